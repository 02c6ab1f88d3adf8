"""Where the provider takes its ARM endpoint, subscription and names from (no network: clients only)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fake_azure import StaticToken

from multicloud.errors import UsageError
from multicloud.project import Project
from multicloud.providers.azure.arm import ArmSession

SPEC = "service: {name}\nfunctions:\n  f:\n    handler: h.main\n    triggers:\n      - http: {{path: /x}}\n"


def session(tmp_path: Path, name: str = "orders") -> ArmSession:
    (tmp_path / "h.py").write_text("def main(event, context):\n    return 'ok'\n")
    (tmp_path / "multicloud.yaml").write_text(SPEC.format(name=name))
    return ArmSession(Project.load(tmp_path / "multicloud.yaml"), StaticToken())


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AZURE_RESOURCE_MANAGER_ENDPOINT", "AZURE_SDK_CLOUD_CONF"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", "00000000-0000-0000-0000-000000000001")


def test_public_cloud_by_default(tmp_path: Path) -> None:
    s = session(tmp_path)
    assert s.web._config.base_url.rstrip("/") == "https://management.azure.com"
    assert s.arm_scope == "https://management.azure.com/.default"


def test_sdk_cloud_setting_picks_a_sovereign_cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_SDK_CLOUD_CONF", "AZURE_CHINA_CLOUD")
    s = session(tmp_path)
    assert s.storage._config.base_url.startswith("https://management.chinacloudapi.cn")
    assert s.arm_scope == "https://management.chinacloudapi.cn/.default"


def test_explicit_endpoint_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_RESOURCE_MANAGER_ENDPOINT", "https://arm.example.test/")
    s = session(tmp_path)
    assert {c._config.base_url for c in (s.web, s.storage, s.resources, s.eventhub)} == {"https://arm.example.test"}


def test_missing_subscription_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID")
    with pytest.raises(UsageError, match="subscription") as info:
        session(tmp_path)
    assert "AZURE_SUBSCRIPTION_ID" in (info.value.fix or "")


def test_default_names_are_valid_and_stable(tmp_path: Path) -> None:
    long = "a-very-long-service-name-with-many-parts"
    s = session(tmp_path, long)
    assert re.fullmatch(r"[a-z0-9]{3,24}", s.storage_account)
    assert re.fullmatch(r"[a-z0-9-]{2,60}", s.app_name) and s.app_name.startswith(long)
    assert re.fullmatch(r"[a-zA-Z][a-zA-Z0-9-]{4,48}[a-zA-Z0-9]", s.eventhub_namespace)
    assert session(tmp_path, long).app_name == s.app_name
