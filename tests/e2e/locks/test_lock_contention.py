"""Two real processes contend for a target's deploy lock: process A (hold_lock.py) takes it through the
provider API and waits on a pipe; process B runs `multicloud -o json deploy` and must fail with a
LockedError naming A and the `multicloud unlock` fix. After A releases, B deploys. A lock left by a
killed A (kill -9) is reported, broken with `multicloud unlock`, and the next deploy succeeds.

For aws (an SSM parameter in moto) and docker (a named container on the engine) the lock lives with the
deployment: a second checkout of the same service in another folder (another "machine", no shared file)
is locked out as well. The local target keeps the default file lock, which is per machine by design.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
EXE = Path(sys.executable).with_name("multicloud")

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


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EXE), "-o", "json", *args], capture_output=True, text=True,
                          env=dict(os.environ), timeout=timeout)


class Holder:
    """Process A: holds the lock until released (a line on its stdin) or killed."""

    def __init__(self, root: Path, target: str) -> None:
        self.proc = subprocess.Popen([sys.executable, str(HERE / "hold_lock.py"), str(root), target],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=dict(os.environ))
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("{"):
            self.proc.kill()
            raise AssertionError(f"process A did not take the lock: {line}{self.proc.communicate()[1]}")
        self.owner = str(json.loads(line)["owner"])
        assert self.owner.endswith(tuple("0123456789abcdef")) and f":{self.proc.pid}:" in self.owner

    def release(self) -> None:
        out, err = self.proc.communicate("release\n", timeout=60)
        assert self.proc.returncode == 0 and "released" in out, err

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.communicate(timeout=30)
        assert self.proc.returncode == -signal.SIGKILL


def assert_locked(result: subprocess.CompletedProcess[str], owner: str, root: Path, target: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    text = result.stdout
    assert '"locked"' in text and owner in text, text
    assert f"multicloud unlock {root}" in text and f"--target {target}" in text, text


@dataclass
class Case:
    target: str
    make: Callable[[Path], Path]  # folder -> project root (a fresh checkout of the same service)
    remote: bool  # the lock lives with the deployment, not in the checkout
    lock_exists: Callable[[], bool]


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


def contend(case: Case, tmp_path: Path) -> None:
    root = case.make(tmp_path / "runner-1")
    t = case.target

    # A holds, B's deploy is refused with A's name and the fix; after A releases, B deploys.
    a = Holder(root, t)
    assert case.lock_exists()
    assert_locked(cli("deploy", str(root), "-t", t), a.owner, root, t)
    a.release()
    assert not case.lock_exists()
    first = cli("deploy", str(root), "-t", t)
    assert first.returncode == 0, first.stdout + first.stderr
    assert not case.lock_exists()  # the deploy released its own lock

    # A is killed while holding: the stale lock is reported, broken with `multicloud unlock`, then deploy works.
    a = Holder(root, t)
    a.kill9()
    assert_locked(cli("deploy", str(root), "-t", t), a.owner, root, t)
    broken = cli("unlock", str(root), "-t", t)
    assert broken.returncode == 0, broken.stdout + broken.stderr
    assert json.loads(broken.stdout)["broken"]["owner"] == a.owner
    assert json.loads(cli("unlock", str(root), "-t", t).stdout)["broken"] is None  # nothing left to break
    again = cli("deploy", str(root), "-t", t)
    assert again.returncode == 0, again.stdout + again.stderr

    # Another "machine": a second checkout of the same service in another folder, no file in common.
    other = case.make(tmp_path / "runner-2")
    a = Holder(root, t)
    try:
        result = cli("deploy", str(other), "-t", t)
        if case.remote:
            assert_locked(result, a.owner, other, t)
            assert not (other / ".multicloud" / "locks").exists()  # nothing in the checkout did it
        else:  # a file lock is per machine: the other checkout is not excluded (documented)
            assert result.returncode == 0, result.stdout + result.stderr
    finally:
        a.release()
    assert not case.lock_exists()


@pytest.mark.slow
def test_local_lock_contention(local_case: Case, tmp_path: Path) -> None:
    contend(local_case, tmp_path)


@pytest.mark.slow
@pytest.mark.docker
def test_docker_lock_contention(docker_case: Case, tmp_path: Path) -> None:
    contend(docker_case, tmp_path)


@pytest.mark.slow
@pytest.mark.moto
def test_aws_lock_contention(aws_case: Case, tmp_path: Path) -> None:
    import boto3

    contend(aws_case, tmp_path)
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
