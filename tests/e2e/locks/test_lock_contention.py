"""Two real processes contend for a target's deploy lock: process A (hold_lock.py) takes it through the
provider API and waits on a pipe; process B runs `multicloud -o json deploy` and must fail with a
LockedError naming A and the `multicloud unlock` fix. After A releases, B deploys. A lock left by a
killed A (kill -9) is reported, broken with `multicloud unlock`, and the next deploy succeeds. A holder
that stays alive keeps its lock through its heartbeat; a killed one's lock expires after the TTL and the
next deploy takes it over by itself.

For aws (an SSM parameter in moto) and docker (a named container on the engine) the lock lives with the
deployment: a second checkout of the same service in another folder (another "machine", no shared file)
is locked out as well. The local target keeps the default file lock, which is per machine by design.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lock_support import Case, Holder, cli, contend, expire

LOCAL_SPEC = """\
service: {service}
functions:
  hello:
    handler: app.hello
    triggers:
      - http: {{path: /hello, methods: [GET]}}
targets:
  local: {{}}
"""
LOCAL_APP = "def hello(event, context):\n    return {'ok': True}\n"


@pytest.fixture
def local_case(tmp_path: Path) -> Iterator[Case]:
    service = f"lk{os.getpid()}"
    made: list[Path] = []

    def make(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "multicloud.yaml").write_text(LOCAL_SPEC.format(service=service))
        (folder / "app.py").write_text(LOCAL_APP)
        made.append(folder)
        return folder

    yield Case("local", make, False, lambda: any((p / ".multicloud/locks/local.lock").exists() for p in made))
    for root in made:
        cli("remove", str(root), "-t", "local", "--yes")


@pytest.fixture
def docker_case(engine: Any, tmp_path: Path) -> Iterator[Case]:
    from e2e_docker_fixtures import service_name, write_project

    service = service_name("locks")
    made: list[Path] = []

    def make(folder: Path) -> Path:
        made.append(write_project(folder, service).parent)
        return made[-1]

    def exists() -> bool:
        return bool(engine.containers.list(all=True, filters={"name": f"mc-{service}-deploy-lock"}))

    yield Case("docker", make, True, exists)
    for root in made[:1]:
        cli("remove", str(root), "-t", "docker", "--yes")  # the session teardown removes by label anyway


@pytest.fixture
def aws_case(moto: str, tmp_path: Path) -> Iterator[Case]:
    import boto3
    from aws_e2e_support import write_service

    def exists() -> bool:
        params = boto3.client("ssm").describe_parameters()["Parameters"]
        return any(p["Name"] == "/multicloud/shop-test/deploy-lock" for p in params)

    yield Case("aws", write_service, True, exists)


@pytest.mark.slow
def test_local_lock_contention(local_case: Case, tmp_path: Path) -> None:
    contend(local_case, tmp_path)
    expire(local_case, tmp_path)


@pytest.mark.slow
@pytest.mark.docker
def test_docker_lock_contention(docker_case: Case, tmp_path: Path) -> None:
    contend(docker_case, tmp_path)
    expire(docker_case, tmp_path)


@pytest.mark.slow
@pytest.mark.moto
def test_aws_lock_contention(aws_case: Case, tmp_path: Path) -> None:
    import boto3

    contend(aws_case, tmp_path)
    expire(aws_case, tmp_path)
    # `remove` runs under the lock and leaves no lock parameter behind; the parameter was tagged as ours
    root = tmp_path / "runner-1"
    a = Holder(root, "aws")
    tags = boto3.client("ssm").list_tags_for_resource(ResourceType="Parameter",
                                                     ResourceId="/multicloud/shop-test/deploy-lock")["TagList"]
    assert {"Key": "multicloud:managed-by", "Value": "multicloud"} in tags
    a.release()
    removed = cli("remove", str(root), "-t", "aws", "--yes")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert not aws_case.lock_exists()
    assert boto3.client("lambda").list_functions()["Functions"] == []
