"""Fixtures for the Azure deploy tests: a FAKE ARM/SCM server on 127.0.0.1 (see fake_azure.py) and a
copy of the sample service. The real SDK clients reach the fake through their supported knobs only:
AZURE_RESOURCE_MANAGER_ENDPOINT (read by the provider), REQUESTS_CA_BUNDLE for the self-signed
certificate, and a static TokenCredential in place of DefaultAzureCredential."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_azure import SUBSCRIPTION, FakeAzure, identity_env, serve

SAMPLE = Path(__file__).parents[2] / "functional" / "azure" / "sample"


@pytest.fixture()
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAzure]:
    fake, server, cert = serve(tmp_path)
    monkeypatch.setenv("AZURE_RESOURCE_MANAGER_ENDPOINT", f"https://{fake.host}")
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", SUBSCRIPTION)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    for proxy in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    yield fake
    fake.function_host.close()
    server.shutdown()
    server.server_close()


@pytest.fixture()
def service(tmp_path: Path) -> Path:
    dest = tmp_path / "svc"
    shutil.copytree(SAMPLE, dest, ignore=shutil.ignore_patterns("__pycache__", ".multicloud"))
    spec = dest / "multicloud.yaml"
    spec.write_text(spec.read_text().replace("eventhub: {connection: CLICKS_HUB}",
                                             "eventhub: {connection: CLICKS_HUB, create: true}"))
    return spec


@pytest.fixture
def signed_in(fake: FakeAzure, monkeypatch: pytest.MonkeyPatch) -> FakeAzure:
    """orchestrate builds its own provider (DefaultAzureCredential): sign in as a managed identity would."""
    for name, value in identity_env(fake).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "ManagedIdentityCredential")
    return fake
