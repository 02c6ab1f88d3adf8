"""Helpers for the gcp e2e tests: the sample service wired to a FAKE Google Cloud (fake_gcp.py, not Google).

The provider reaches the fake only through gcloud's standard endpoint overrides
(`CLOUDSDK_API_ENDPOINT_OVERRIDES_*`), exactly as it would reach a proxy or emulator in real use.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_gcp import FakeGoogleCloud

from multicloud.project import Project
from multicloud.provider import BuildResult, DeployResult
from multicloud.providers.gcp import GcpProvider

SERVICE = Path(__file__).parents[2] / "functional" / "gcp" / "service"
SECRETS = {"projects/shop-test-1/secrets/api-key/versions/latest": "s3cr3t-api-key-value",
           "projects/vault-project/secrets/db-password/versions/3": "s3cr3t-db-password"}

#: what the deploy adds to shop-api's environment for the shim (Context.memory_limit_mb, remaining_time_ms)
SHOP_API_RUNTIME_ENV = {"MULTICLOUD_MEMORY_MB": "512", "MULTICLOUD_TIMEOUT_MS": "60000"}
PROJECT = "shop-test-1"


def open_fake(monkeypatch: pytest.MonkeyPatch, **kwargs: object) -> FakeGoogleCloud:
    """A fake (not yet started: use `with`) and the standard overrides pointing every API at it; the
    Pub/Sub emulator's project emptied (the emulator is shared and has no reset)."""
    from pubsub_emulator import clean

    clean(PROJECT)
    fake = FakeGoogleCloud(secrets=SECRETS, **kwargs)  # type: ignore[arg-type]
    for key, value in fake.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    return fake


class Deployment:
    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def provider(self) -> GcpProvider:
        return GcpProvider(Project.load(self.root))

    def build(self) -> BuildResult:
        return self.provider.build(self.root / ".multicloud" / "build" / "gcp")

    def deploy(self) -> DeployResult:
        provider = self.provider
        return provider.deploy(provider.build(self.root / ".multicloud" / "build" / "gcp"))

    def edit(self, old: str, new: str, file: str = "multicloud.yaml") -> None:
        path = self.root / file
        text = path.read_text()
        assert old in text
        path.write_text(text.replace(old, new))
