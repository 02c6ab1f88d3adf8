"""`multicloud rollback --dry-run`: on a target whose rollback is not a plan yet (local) it says so, exit 3;
a bad spec is still exit 2 before any target is asked (docker's rollback plan is proven on a real engine:
tests/e2e/docker/test_docker_plan_apply.py and test_docker_swarm_plan.py)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from multicloud.cli.app import app

SPEC = """
service: dryrun
runtime: python3.11
functions:
  hello:
    handler: app.hello
    triggers:
      - http: {path: /hello, methods: [GET]}
targets:
  local: {}
"""


def test_dry_run_on_a_target_without_a_rollback_plan_is_unsupported(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("def hello(event, context):\n    return 'hi'\n")
    (tmp_path / "multicloud.yaml").write_text(SPEC)
    result = CliRunner().invoke(app, ["rollback", str(tmp_path), "--target", "local", "--dry-run"])
    assert result.exit_code == 3, result.output
    assert "rollback --dry-run" in result.output and "local" in result.output


def test_dry_run_refuses_a_bad_spec_first(tmp_path: Path) -> None:
    (tmp_path / "multicloud.yaml").write_text(SPEC.replace("runtime: python3.11", "runtime: cobol"))
    result = CliRunner().invoke(app, ["rollback", str(tmp_path), "--target", "local", "--dry-run"])
    assert result.exit_code == 2, result.output
    assert "runtime" in result.output
