"""`multicloud plan` reads what is actually deployed: changes made by hand on the target (not through
multicloud) show up as `drift: ...` changes, and a deploy repairs them."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from multi_support import SESSION, TEST_LABEL, ask

from multicloud import orchestrate
from multicloud.project import Project
from multicloud.provider import Change, no_progress

pytestmark = [pytest.mark.moto, pytest.mark.docker, pytest.mark.slow]


def plan(root: Path, target: str) -> list[Change]:
    return list(orchestrate.plan(Project.load(root), target, no_progress).changes)


def drifted(changes: list[Change]) -> list[Change]:
    return [c for c in changes if c.action in ("create", "update") and c.detail.startswith("drift: ")]


def deploy(root: Path, target: str) -> None:
    orchestrate.deploy(Project.load(root), target, no_progress)
    assert all(c.action == "noop" for c in plan(root, target)), plan(root, target)


def test_aws_drift_environment_changed_and_url_deleted_by_hand(service: Any) -> None:
    root: Path = service("driftaws")
    deploy(root, "aws")
    lam = boto3.client("lambda")
    name = next(f["FunctionName"] for f in lam.list_functions()["Functions"])
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"MODE": "hacked"}})
    changes = drifted(plan(root, "aws"))
    assert changes and all(c.action == "update" for c in changes), plan(root, "aws")
    assert any("environment" in c.detail for c in changes), changes
    deploy(root, "aws")  # repairs it: the plan is all noop again

    lam.delete_function_url_config(FunctionName=name, Qualifier="live")
    changes = drifted(plan(root, "aws"))
    assert any(c.action == "create" and "url" in c.resource.lower() for c in changes), plan(root, "aws")
    deploy(root, "aws")
    assert ask(root, "aws") == (200, "hello multi")


def _containers(engine: Any, root: Path) -> dict[str, Any]:
    name = Project.load(root).name
    found = engine.containers.list(all=True, filters={"label": f"{TEST_LABEL}={SESSION}"})
    return {("gateway" if c.name.endswith("-gateway") else "function"): c for c in found
            if c.name.startswith(f"mc-{name}-") and not c.name.endswith("-state")}


def test_docker_drift_function_container_stopped_or_gateway_removed_by_hand(service: Any, engine: Any) -> None:
    root: Path = service("driftdocker")
    deploy(root, "docker")
    _containers(engine, root)["function"].stop(timeout=1)
    changes = drifted(plan(root, "docker"))
    assert changes and "exited" in changes[0].detail, plan(root, "docker")
    deploy(root, "docker")
    assert ask(root, "docker") == (200, "hello multi")

    _containers(engine, root)["gateway"].remove(force=True)
    changes = drifted(plan(root, "docker"))
    assert changes and "gateway" in changes[0].detail, plan(root, "docker")
    deploy(root, "docker")
    assert ask(root, "docker") == (200, "hello multi")


def test_local_drift_server_killed_by_hand(service: Any) -> None:
    root: Path = service("driftlocal")
    deploy(root, "local")
    report = orchestrate.provider_for(Project.load(root), "local").status()
    for key in ("supervisor_pid", "server_pid"):
        os.kill(int(report.details[key]), signal.SIGKILL)
    deadline = time.monotonic() + 10
    while orchestrate.provider_for(Project.load(root), "local").status().deployed and time.monotonic() < deadline:
        time.sleep(0.1)
    changes = drifted(plan(root, "local"))
    assert changes and all(c.action == "create" for c in changes), plan(root, "local")
    deploy(root, "local")
    assert ask(root, "local") == (200, "hello multi")
