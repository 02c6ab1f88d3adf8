"""Golden facts of the rendered Azure app, and the spec errors Azure needs (no runtime import here)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from azure_testkit import SAMPLE, build, copy_sample

from multicloud.errors import SpecError, UnsupportedError
from multicloud.provider import BuildResult
from multicloud.providers.azure.triggers import ncrontab, route_of
from multicloud.spec.models import ScheduleTrigger


def test_rendered_files_and_zip_layout(built: BuildResult) -> None:
    app = built.out_dir / "app"
    host = json.loads((app / "host.json").read_text())
    assert host["version"] == "2.0"
    assert host["extensionBundle"] == {"id": "Microsoft.Azure.Functions.ExtensionBundle",
                                       "version": "[4.*, 5.0.0)"}
    assert host["functionTimeout"] == "00:02:00"
    assert host["extensions"]["http"] == {"routePrefix": ""}
    assert host["extensions"]["queues"] == {"batchSize": 16, "maxDequeueCount": 5}
    assert host["extensions"]["eventHubs"] == {"maxEventBatchSize": 50,
                                               "initialOffsetOptions": {"type": "fromStart"}}
    assert (app / "requirements.txt").read_text().splitlines()[1] == "azure-functions"
    assert ".multicloud" in (app / ".funcignore").read_text().splitlines()
    source = (app / "function_app.py").read_text()
    compile(source, "function_app.py", "exec")
    assert "\nfrom __future__" not in source  # the worker needs real annotations
    assert "_api_shim = AzureShim('handler.main', 'api')" in source

    with zipfile.ZipFile(built.out_dir / "app.zip") as zf:
        names = set(zf.namelist())
        assert {"function_app.py", "host.json", "requirements.txt", ".funcignore", "handler.py",
                "multicloud/__init__.py", "multicloud/runtime/__init__.py"} <= names
        assert "multicloud.yaml" not in names
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in zf.infolist())
    assert {a.function for a in built.artifacts} == {"api", "worker", "nightly"}
    assert json.loads((built.out_dir / "build.json").read_text())["digest"] == built.digest


def test_rebuild_is_byte_identical(built: BuildResult, tmp_path: Path) -> None:
    again = build(copy_sample(tmp_path / "svc"), tmp_path / "build")
    assert again.digest == built.digest
    assert (tmp_path / "build" / "app.zip").read_bytes() == (built.out_dir / "app.zip").read_bytes()


def test_secrets_are_key_vault_references_never_values(tmp_path: Path) -> None:
    from multicloud.project import Project
    from multicloud.providers.azure.app import app_model

    model = app_model(Project.load(copy_sample(tmp_path / "svc")))
    assert model.settings == {
        "GREETING": "hello",
        "API_KEY": "@Microsoft.KeyVault(SecretUri=https://orders-kv.vault.azure.net/secrets/api-key)",
    }
    assert model.instance_memory_mb == 2048


@pytest.mark.parametrize(("rate", "expected"), [
    ("1m", "0 * * * * *"), ("5m", "0 */5 * * * *"), ("30m", "0 */30 * * * *"), ("60m", "0 0 * * * *"),
    ("1h", "0 0 * * * *"), ("6h", "0 0 */6 * * *"), ("24h", "0 0 0 * * *"), ("1d", "0 0 0 * * *"),
])
def test_rates_become_exact_ncrontab(rate: str, expected: str) -> None:
    assert ncrontab(ScheduleTrigger(rate=rate), "here") == expected


@pytest.mark.parametrize("rate", ["7m", "90m", "5h", "2d"])
def test_rates_without_an_exact_ncrontab_are_unsupported(rate: str) -> None:
    with pytest.raises(UnsupportedError, match="no exact NCRONTAB"):
        ncrontab(ScheduleTrigger(rate=rate), "here")


def test_cron_gains_a_seconds_field_and_rejects_quartz_extensions() -> None:
    assert ncrontab(ScheduleTrigger(cron="*/15 8-18 * * MON-FRI"), "x") == "0 */15 8-18 * * MON-FRI"
    with pytest.raises(UnsupportedError, match="NCRONTAB"):
        ncrontab(ScheduleTrigger(cron="0 12 ? * 1"), "x")


def test_routes() -> None:
    assert route_of("/orders/{id}") == "orders/{id}"
    assert route_of("/files/{path+}") == "files/{*path}"
    assert route_of("/") == "{_root:maxlength(0)?}"


def _spec_with(extra: str) -> str:
    return (SAMPLE / "multicloud.yaml").read_text().replace("  nightly:\n", extra + "  nightly:\n")


def test_blob_deleted_event_is_unsupported_with_location(tmp_path: Path) -> None:
    spec = copy_sample(tmp_path / "svc", _spec_with(
        "  gone:\n    handler: handler.main\n    triggers:\n"
        "      - storage: {bucket: uploads, events: [created, deleted]}\n"))
    with pytest.raises(UnsupportedError) as info:
        build(spec, tmp_path / "build")
    assert "created or updated" in info.value.what
    assert "multicloud.yaml:" in str(info.value.where) and "gone" in str(info.value.where)
    assert info.value.fix


def test_literal_like_and_foreign_secret_schemes_fail(tmp_path: Path) -> None:
    spec = copy_sample(tmp_path / "svc", _spec_with(
        "  other:\n    handler: handler.main\n    secrets: {TOKEN: 'ssm:/x/y'}\n"
        "    triggers:\n      - http: {path: /other}\n"))
    with pytest.raises(UnsupportedError, match="Azure cannot resolve"):
        build(spec, tmp_path / "build")


def test_conflicting_app_settings_fail(tmp_path: Path) -> None:
    spec = copy_sample(tmp_path / "svc", _spec_with(
        "  other:\n    handler: handler.main\n    env: {GREETING: bye}\n"
        "    triggers:\n      - http: {path: /other}\n"))
    with pytest.raises(UnsupportedError, match="one set of app settings"):
        build(spec, tmp_path / "build")


def test_invalid_queue_name_is_a_spec_error(tmp_path: Path) -> None:
    spec = copy_sample(tmp_path / "svc", _spec_with(
        "  other:\n    handler: handler.main\n    triggers:\n      - queue: {name: Orders_In}\n"))
    with pytest.raises(SpecError, match="not a valid Azure Storage name"):
        build(spec, tmp_path / "build")


def test_user_function_app_py_would_be_shadowed(tmp_path: Path) -> None:
    spec = copy_sample(tmp_path / "svc")
    (spec.parent / "function_app.py").write_text("x = 1\n")
    with pytest.raises(SpecError, match="its own function_app.py"):
        build(spec, tmp_path / "build")


def test_a_top_level_azure_module_would_shadow_the_sdk(tmp_path: Path) -> None:
    spec = copy_sample(tmp_path / "svc")
    (spec.parent / "azure.py").write_text("x = 1\n")
    with pytest.raises(SpecError, match="shadow"):
        build(spec, tmp_path / "build")
