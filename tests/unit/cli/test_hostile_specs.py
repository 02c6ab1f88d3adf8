"""Hostile specs (alias bombs, deep nesting, huge numbers, recursive aliases) against every command that
loads a spec: exit 2, one located message, no traceback. The time and memory they cost are measured by
bench/hostile_specs.py against the 2 s / 100 MB ceiling; here a timeout only guards against a hang.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from multicloud.cli.app import app, hoist_global_options

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "specs"))
from hostile import BOMB, HOSTILE, write_all  # noqa: E402

COMMANDS = {
    "validate": [], "build": [], "plan": [], "deploy": [], "invoke": [], "logs": [], "status": [],
    "remove": ["--yes"], "rollback": [], "export": [], "dev": [], "unlock": [], "move": ["--from", "local",
                                                                                        "--to", "docker"],
    "send": ["--queue", "q", "-d", "x"], "dead-letters": [], "dashboard": ["--port", "0"],
}


@pytest.fixture(scope="module")
def specs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {name: Path(str(folder)) for name, folder in write_all(tmp_path_factory.mktemp("hostile")).items()}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_every_spec_command_refuses_hostile_yaml_located(specs: dict[str, Path], kind: str, command: str) -> None:
    folder = specs[kind]
    args = [command, str(folder), *COMMANDS[command]]
    if command not in ("validate", "build", "plan", "deploy", "remove", "dev", "move", "dashboard"):
        args += ["--target", "local"]
    result = CliRunner().invoke(app, hoist_global_options(args))
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    _text, line, what = HOSTILE[kind]
    first = result.output.strip().splitlines()[0]
    assert first.startswith(f"error: {folder / 'multicloud.yaml'}:{line}:"), first
    assert what in first, first


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_real_process_prints_one_line_and_no_traceback(specs: dict[str, Path], kind: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "multicloud", "deploy", str(specs[kind])], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "CI": "true"})
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_import_refuses_an_alias_bomb_in_serverless_yml(tmp_path: Path) -> None:
    source = tmp_path / "serverless.yml"
    source.write_text("service: x\nprovider: {name: aws}\nfunctions: {a: {handler: h.m, environment: {X: *l9}}}\n"
                      + BOMB)
    result = CliRunner().invoke(app, ["import", str(source)])
    assert result.exit_code == 2, result.output
    assert "YAML nodes" in result.output and f"{source}:" in result.output


@pytest.mark.parametrize("case", ["directory", "binary", "missing-body-file", "bad-event-file"])
def test_other_hostile_inputs_are_exit_2_without_traceback(specs: dict[str, Path], tmp_path: Path, case: str) -> None:
    garbage = tmp_path / "garbage.yml"
    garbage.write_bytes(bytes(range(255, 0, -1)))
    svc = tmp_path / "svc"
    svc.mkdir()
    (svc / "h.py").write_text("def m(event, context):\n    return 1\n")
    (svc / "multicloud.yaml").write_text("service: ok\nfunctions: {a: {handler: h.m}}\n")
    args = {
        "directory": ["import", str(tmp_path)],
        "binary": ["import", str(garbage)],
        "missing-body-file": ["invoke", str(svc), "-t", "local", "-d", "@/nonexistent"],
        "bad-event-file": ["invoke", str(svc), "-t", "local", "--event", str(garbage), "--trigger", "queue"],
    }[case]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    assert result.output.startswith("error: "), result.output
    assert {"directory": "is a directory", "binary": "not UTF-8", "missing-body-file": "request body",
            "bad-event-file": "JSON event"}[case] in result.output, result.output
