"""`pip install multicloud` with no extras: every command on a target whose SDK is absent exits 3 with one
paragraph naming the extra to install, never a traceback; what needs no SDK (validate, build of the
zip targets, export of a SAM template, everything on `local`) still works.

A real virtual environment, built once for the session with a plain `pip install` of this checkout
(`plain_venv` in conftest.py), runs the real `multicloud` command.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

EXTRA_OF = {"aws": "aws", "azure": "azure", "gcp": "gcp", "docker": "docker"}
# Commands that reach the cloud (the SDK is needed), with the arguments each takes besides the target.
CLOUD_COMMANDS: dict[str, list[str]] = {
    "plan": [], "deploy": [], "status": [], "invoke": [], "logs": [], "remove": ["--yes"],
    "unlock": [], "rollback": [],
}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory, plain_venv: Path) -> Path:
    dest = tmp_path_factory.mktemp("svc") / "demo"
    assert run(plain_venv, "init", "demo", "--dir", str(dest)).returncode == 0
    return dest


def run(venv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AZURE_", "GOOGLE_", "DOCKER_"))}
    env["CI"] = "true"
    return subprocess.run([str(venv / "bin" / "multicloud"), *args], capture_output=True, text=True, env=env,
                          timeout=120)


def assert_missing_extra(proc: subprocess.CompletedProcess[str], extra: str) -> None:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 3, out
    assert "Traceback" not in out and "ModuleNotFoundError" not in out, out
    assert f"pip install 'multicloud[{extra}]'" in out, out
    message = [line for line in out.splitlines() if "needs the" in line]
    assert len(message) == 1, out  # one paragraph, said once


@pytest.mark.parametrize("target", sorted(EXTRA_OF))
@pytest.mark.parametrize("command", sorted(CLOUD_COMMANDS))
def test_cloud_command_without_its_extra_exits_3_naming_it(plain_venv: Path, service: Path, command: str,
                                                           target: str) -> None:
    started = time.monotonic()
    proc = run(plain_venv, command, str(service), "--target", target, *CLOUD_COMMANDS[command])
    assert_missing_extra(proc, EXTRA_OF[target])
    assert time.monotonic() - started < 30


def test_docker_build_needs_the_engine_sdk(plain_venv: Path, service: Path) -> None:
    assert_missing_extra(run(plain_venv, "build", str(service), "--target", "docker"), "docker")


def test_json_output_carries_the_same_error(plain_venv: Path, service: Path) -> None:
    proc = run(plain_venv, "-o", "json", "status", str(service), "--target", "aws")
    assert proc.returncode == 3
    error = json.loads(proc.stdout)["error"]
    assert error["kind"] == "unsupported" and "multicloud[aws]" in error["fix"]


def test_move_and_the_base_image_helper_name_their_extra(plain_venv: Path, service: Path) -> None:
    assert_missing_extra(run(plain_venv, "move", str(service), "--from", "aws", "--to", "local"), "aws")
    assert_missing_extra(run(plain_venv, "move", str(service), "--from", "local", "--to", "gcp"), "gcp")
    if os.geteuid() == 0 and shutil.which("debootstrap"):  # else it stops earlier, naming what it lacks
        assert_missing_extra(run(plain_venv, "docker", "base-image"), "docker")


def test_what_needs_no_sdk_still_works(plain_venv: Path, service: Path, tmp_path: Path) -> None:
    proc = run(plain_venv, "validate", str(service), "--target", "aws,azure,gcp,docker,local")
    assert proc.returncode == 0, proc.stderr
    proc = run(plain_venv, "build", str(service), "--target", "aws,azure,gcp,local")
    assert proc.returncode == 0, proc.stderr
    proc = run(plain_venv, "export", str(service), "--target", "aws", "--out", str(tmp_path / "sam"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "sam" / "template.yaml").is_file()


def test_mixed_targets_deploy_what_they_can(plain_venv: Path, service: Path) -> None:
    """`deploy -t local,aws` without boto3: local deploys and serves, aws fails (exit 3), no traceback."""
    try:
        proc = run(plain_venv, "-o", "json", "deploy", str(service), "--target", "local,aws")
        assert proc.returncode == 3, proc.stdout + proc.stderr
        by_target = {t["target"]: t for t in json.loads(proc.stdout)["targets"]}
        assert by_target["local"]["ok"] is True
        assert by_target["aws"]["error"]["kind"] == "unsupported"
        answer = run(plain_venv, "invoke", str(service), "--target", "local", "--path", "/hello?name=Ada")
        assert answer.returncode == 0 and "Hello, Ada!" in answer.stdout, answer.stdout + answer.stderr
    finally:
        run(plain_venv, "remove", str(service), "--target", "local", "--yes")
