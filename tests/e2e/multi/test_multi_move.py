"""`multicloud move --from aws --to docker`: the service keeps answering throughout (a caller resolving
the function through multicloud.client sees no failed call), and afterwards aws holds nothing and docker
serves. A destination that does not pass verification is removed again and the source keeps serving."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import boto3
import pytest
from multi_support import APP, ask, cli

from multicloud import orchestrate
from multicloud.client import Client
from multicloud.errors import OperationError, UsageError
from multicloud.move import move_service
from multicloud.project import Project
from multicloud.provider import no_progress

pytestmark = [pytest.mark.moto, pytest.mark.docker, pytest.mark.slow]

MAX_CALLS = 400


class Caller(threading.Thread):
    """Calls `hello` in a loop (bounded) until stopped, locating it afresh each time (docker first)."""

    def __init__(self, root: Path) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.stop = threading.Event()
        self.served: list[str] = []
        self.failures: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set() and len(self.served) + len(self.failures) < MAX_CALLS:
            try:
                reply = Client(self.root, prefer=("docker", "aws")).call("hello", query={"name": ["multi"]})
            except Exception as exc:  # noqa: BLE001 - every failure is counted, none hidden
                self.failures.append(repr(exc))
                continue
            if reply.status == 200 and reply.text == "hello multi":
                self.served.append(reply.target)
            else:
                self.failures.append(f"{reply.target}: {reply.status} {reply.text[:200]} {reply.error}")


def test_move_from_aws_to_docker_serves_throughout(service: Any) -> None:
    root: Path = service("move")
    orchestrate.deploy(Project.load(root), "aws", no_progress)
    caller = Caller(root)
    caller.start()
    try:
        while not caller.served and not caller.failures:
            caller.join(0.1)  # the service answers on aws before the move starts
        moved = cli("-o", "json", "move", str(root), "--from", "aws", "--to", "docker", cwd=root)
        after = len(caller.served)
        while len(caller.served) < after + 3 and not caller.failures and caller.is_alive():
            caller.join(0.1)  # and keeps answering after it
    finally:
        caller.stop.set()
        caller.join(60)
    assert moved.returncode == 0, moved.stdout + moved.stderr
    result = json.loads(moved.stdout)
    assert result["source"] == "aws" and result["destination"] == "docker"
    assert result["deployed"]["endpoints"][0]["function"] == "hello"
    assert result["removed"]["removed"], result
    assert caller.failures == [], caller.failures
    assert caller.served[0] == "aws" and caller.served[-1] == "docker", caller.served
    assert len(caller.served) < MAX_CALLS
    print(f"\nmove: {caller.served.count('aws')} calls on aws, {caller.served.count('docker')} on docker, 0 failed")
    assert boto3.client("lambda").list_functions()["Functions"] == []
    assert not orchestrate.provider_for(Project.load(root), "aws").status().deployed
    assert ask(root, "docker") == (200, "hello multi")


BROKEN_ON_DOCKER = APP.replace(
    'def hello(event, context):\n',
    'def hello(event, context):\n    if context.target == "docker":\n        raise RuntimeError("broken here")\n')


def test_move_that_fails_verification_leaves_the_source_serving(service: Any, engine: Any) -> None:
    root: Path = service("movefail", app=BROKEN_ON_DOCKER)
    project = Project.load(root)
    orchestrate.deploy(project, "aws", no_progress)
    with pytest.raises(OperationError) as info:
        move_service(project, "aws", "docker", no_progress)
    assert "aws keeps serving" in info.value.what and "hello answered 500" in info.value.what, info.value.what
    assert not orchestrate.provider_for(project, "docker").status().deployed  # the half-made move is gone
    assert [c.name for c in engine.containers.list(all=True, filters={"label": f"io.multicloud.service={project.name}"})
            ] == []
    assert ask(root, "aws") == (200, "hello multi")
    assert orchestrate.provider_for(project, "aws").status().deployed


def test_move_refuses_nothing_to_move_and_same_target(service: Any) -> None:
    project = Project.load(service("movenothing"))
    with pytest.raises(OperationError, match="not deployed on aws"):
        move_service(project, "aws", "docker", no_progress)
    assert not orchestrate.provider_for(project, "docker").status().deployed  # nothing was deployed
    with pytest.raises(UsageError, match="both docker"):
        move_service(project, "docker", "docker", no_progress)
