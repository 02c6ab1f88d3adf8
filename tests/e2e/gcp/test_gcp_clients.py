"""Client construction from Google's standard configuration (no network: nothing here calls an API).

Endpoint overrides are gcloud's documented `CLOUDSDK_API_ENDPOINT_OVERRIDES_*`; credentials are
Application Default Credentials, checked with a real (freshly generated) service-account key file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from gcp_e2e_kit import Deployment

from multicloud.errors import OperationError
from multicloud.providers.gcp.clients import GcpClients, endpoint

APIS = ("CLOUDFUNCTIONS", "CLOUDSCHEDULER", "RUN", "LOGGING", "STORAGE")


@pytest.fixture
def no_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for api in APIS:
        monkeypatch.delenv(f"CLOUDSDK_API_ENDPOINT_OVERRIDES_{api}", raising=False)
    for var in ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))  # no gcloud user credentials
    monkeypatch.setenv("NO_GCE_CHECK", "True")  # not on Google Compute Engine: do not probe metadata


@pytest.mark.parametrize("value, expected", [
    ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
    ("https://proxy.example/v2/", "https://proxy.example"),
    ("", "https://cloudfunctions.googleapis.com"),
])
def test_endpoint_override(monkeypatch: pytest.MonkeyPatch, value: str, expected: str) -> None:
    monkeypatch.setenv("CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDFUNCTIONS", value)
    assert endpoint("functions") == expected


def test_without_credentials_the_error_says_how_to_log_in(no_overrides: None, shop: Deployment) -> None:
    with pytest.raises(OperationError) as info:
        GcpClients.from_environment(shop.provider.project)
    assert "application-default login" in (info.value.fix or "")


def test_application_default_credentials_from_a_key_file(no_overrides: None, shop: Deployment, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    keyfile = tmp_path / "sa.json"
    keyfile.write_text(json.dumps({
        "type": "service_account", "project_id": "key-project-1", "private_key_id": "abc",
        "private_key": pem, "client_email": "deployer@key-project-1.iam.gserviceaccount.com",
        "client_id": "1", "token_uri": "https://oauth2.googleapis.com/token"}))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(keyfile))
    shop.edit("    project: shop-test-1\n", "")
    clients = GcpClients.from_environment(shop.provider.project)
    assert not clients.anonymous and clients.project_id == "key-project-1"
    assert clients.credentials.service_account_email == "deployer@key-project-1.iam.gserviceaccount.com"
    assert clients.functions.api_endpoint == "https://cloudfunctions.googleapis.com"
    # an explicit project in the spec wins over the key's
    shop.edit("targets:\n  gcp:\n", "targets:\n  gcp:\n    project: spec-project-1\n")
    assert GcpClients.from_environment(shop.provider.project).project_id == "spec-project-1"
