"""The command line as users and CI drive it: exit codes, JSON output, init, start-up imports, packaging."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from multicloud.cli.app import app, hoist_global_options

ROOT = Path(__file__).resolve().parents[3]
SDKS = {"boto3", "botocore", "azure", "google", "docker", "functions_framework", "flask", "jinja2"}


def cli(*args: str) -> object:
    return CliRunner().invoke(app, hoist_global_options(list(args)))


def test_init_then_validate_then_its_own_test_passes(tmp_path: Path) -> None:
    dest = tmp_path / "demo"
    res = cli("init", "demo", "--dir", str(dest))
    assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
    res = cli("validate", str(dest), "-o", "json")
    assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
    assert json.loads(res.stdout)["functions"] == ["hello"]  # type: ignore[attr-defined]
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(dest / "tests")],
                          capture_output=True, text=True, cwd=dest, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_init_refuses_bad_name_and_existing_folder(tmp_path: Path) -> None:
    assert cli("init", "Bad_Name", "--dir", str(tmp_path / "x")).exit_code == 2  # type: ignore[attr-defined]
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "file").write_text("x")
    assert cli("init", "ok", "--dir", str(tmp_path / "full")).exit_code == 2  # type: ignore[attr-defined]


def test_unknown_target_is_bad_input_with_hint() -> None:
    res = cli("validate", str(ROOT / "examples" / "hello-http"), "--target", "awz")
    assert res.exit_code == 2  # type: ignore[attr-defined]
    assert "did you mean 'aws'" in res.output  # type: ignore[attr-defined]


def test_capability_failure_names_limit(tmp_path: Path) -> None:
    spec = ROOT / "examples" / "orders"
    res = cli("validate", str(spec), "--target", "gcp", "-o", "json")
    assert res.exit_code == 0, res.output  # type: ignore[attr-defined]  # clicks is disabled on gcp


def test_unsupported_operation_exits_3() -> None:
    res = cli("export", str(ROOT / "examples" / "hello-http"), "--target", "gcp", "--out", "/nonexistent")
    assert res.exit_code == 3, res.output  # type: ignore[attr-defined]
    assert "not implemented" in res.output  # type: ignore[attr-defined]


def test_missing_spec_exits_2(tmp_path: Path) -> None:
    res = cli("validate", str(tmp_path))
    assert res.exit_code == 2  # type: ignore[attr-defined]
    assert "no multicloud.yaml" in res.output  # type: ignore[attr-defined]


def test_global_options_anywhere() -> None:
    assert hoist_global_options(["deploy", "x", "-o", "json", "--quiet"]) == ["-o", "json", "--quiet", "deploy", "x"]
    assert hoist_global_options(["invoke", "--", "-o"]) == ["invoke", "--", "-o"]


def test_capabilities_as_json() -> None:
    res = cli("capabilities", "-o", "json")
    data = json.loads(res.stdout)  # type: ignore[attr-defined]
    assert data["aws"]["max_timeout_s"] == 900
    assert "stream" not in data["gcp"]["triggers"]


@pytest.mark.parametrize("args", [["--help"], ["validate", "examples/hello-http"]])
def test_startup_imports_no_cloud_sdk(args: list[str]) -> None:
    code = ("import sys; before = set(sys.modules)\n"
            "from multicloud.cli.app import app\n"
            "try:\n    app(args=sys.argv[1:], prog_name='multicloud')\nexcept SystemExit as e:\n    code = e.code\n"
            "new = {m.split('.')[0] for m in set(sys.modules) - before}\n"
            "print(sorted(new))")
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "CI": "true"}, timeout=60)
    loaded = set(eval(proc.stdout.strip().splitlines()[-1]))  # noqa: S307 - our own printed list
    assert not (loaded & SDKS), loaded & SDKS


@pytest.mark.slow
def test_wheel_installs_providers_and_blueprints_under_multicloud(tmp_path: Path) -> None:
    """Build the real wheel: providers/ and blueprints/ land only as multicloud.providers/.blueprints."""
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    wheel = next(tmp_path.glob("multicloud-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops <= {"multicloud", wheel.name.split("-py3")[0].replace(".whl", "") + ".dist-info"} | {
        n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info")}
    assert "providers" not in tops and "blueprints" not in tops
    for target in ("aws", "azure", "gcp", "docker", "local"):
        assert f"multicloud/providers/{target}/__init__.py" in names
    assert any(n.startswith("multicloud/blueprints/") and n.endswith(".j2") for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[multicloud.providers]" in text and "aws = multicloud.providers.aws:AwsProvider" in text


def test_validate_runs_the_targets_own_mapping_checks(tmp_path: Path) -> None:
    """Azure blob triggers cannot see deletes: validate says so (exit 3) before anything is built."""
    (tmp_path / "multicloud.yaml").write_text(
        "service: azdel\nfunctions:\n  f:\n    handler: h.main\n    triggers:\n"
        "      - storage: {bucket: uploads, events: [created, deleted]}\n")
    (tmp_path / "h.py").write_text("def main(event, context):\n    return None\n")
    res = cli("validate", str(tmp_path), "--target", "azure")
    assert res.exit_code == 3, res.output  # type: ignore[attr-defined]
    assert "never when it is deleted" in res.output  # type: ignore[attr-defined]
    assert cli("validate", str(tmp_path), "--target", "aws").exit_code == 0  # type: ignore[attr-defined]


def test_send_and_dead_letters_check_their_input_before_any_target() -> None:
    orders = str(ROOT / "examples" / "orders")
    res = cli("send", orders, "-t", "local", "--queue", "nope", "-d", "x")
    assert res.exit_code == 2, res.output  # type: ignore[attr-defined]
    assert "use one of: orders-to-fulfil" in res.output  # type: ignore[attr-defined]
    res = cli("send", orders, "-t", "local", "--queue", "orders-to-fulfil")
    assert res.exit_code == 2 and "-d BODY or --file F" in res.output  # type: ignore[attr-defined]
    res = cli("send", orders, "-t", "local", "--queue", "orders-to-fulfil", "--stream", "clickstream", "-d", "x")
    assert res.exit_code == 2 and "exactly one of --queue" in res.output  # type: ignore[attr-defined]
    res = cli("send", orders, "-t", "local", "--queue", "orders-to-fulfil", "-d", "x", "-a", "novalue")
    assert res.exit_code == 2 and "is not K=V" in res.output  # type: ignore[attr-defined]
    res = cli("dead-letters", orders, "-t", "local", "--retry", "--purge")
    assert res.exit_code == 2, res.output  # type: ignore[attr-defined]
    res = cli("dead-letters", str(ROOT / "examples" / "hello-http"), "-t", "local")
    assert res.exit_code == 2 and "no function reads a queue" in res.output  # type: ignore[attr-defined]
