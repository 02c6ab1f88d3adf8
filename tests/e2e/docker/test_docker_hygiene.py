"""On a real engine: `include:`/`exclude:` decide what the image holds, a rotated secret value reaches the
running function (same image, new container), the value never reaches the container's log, and a fixed
port another program holds fails the deploy before any container starts."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.slow]

LEAKY = '''

def shown(event, context):
    return {"token": os.environ.get("TOKEN")}


def leak(event, context):
    secret = os.environ["TOKEN"]
    context.logger.info("calling upstream", key=secret)
    print("debug print " + secret)
    raise RuntimeError("upstream refused key " + secret)
'''
FUNCTIONS = """
shown:
  handler: app.shown
  memory: 64
  secrets:
    TOKEN: {docker: "env:MC_DOCKER_ROT", local: "env:MC_DOCKER_ROT"}
  triggers:
    - http: {path: /shown, methods: [GET]}
leak:
  handler: app.leak
  memory: 64
  secrets:
    TOKEN: {docker: "env:MC_DOCKER_ROT"}
  triggers:
    - http: {path: /leak, methods: [GET]}
"""


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture
def project(engine: Any, tmp_path: Path, docker_kit: Any) -> Any:
    spec = docker_kit.write_project(tmp_path / "files", docker_kit.service_name("files"), extra_functions=FUNCTIONS,
                                    handlers=docker_kit.HANDLERS + LEAKY)
    root = spec.parent
    spec.write_text(spec.read_text().replace("runtime: python3.11\n", 'runtime: python3.11\ninclude: '
                                             '["tests/fixtures/**", ".well-known/*"]\nexclude: [docs, "*.txt"]\n'))
    for name, text in {"tests/fixtures/data.json": "{}", ".well-known/security.txt": "contact", "docs/a.md": "x",
                       "notes.txt": "private", "tests/test_app.py": "", "lib/keep.py": ""}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    deployment = docker_kit.Deployed(spec)
    yield deployment
    try:
        deployment.provider.remove()
    except Exception:  # noqa: BLE001 - the session teardown removes by label anyway
        pass


def test_image_files_rotation_and_masked_logs(engine: Any, project: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "tok-7d1e55aa-first"
    monkeypatch.setenv("MC_DOCKER_ROT", secret)
    first = project.deploy()
    live = project.provider.mode().live()
    code, out = live.exec_run(["python3", "-c", "import os\nfor d, _, fs in os.walk('.'):\n"
                               "    [print(os.path.join(d, f)[2:]) for f in fs]"])
    shipped = {line for line in out.decode().splitlines() if not line.startswith(("multicloud/", "__pycache__"))
               and "__pycache__" not in line}
    assert {"app.py", "tests/fixtures/data.json", ".well-known/security.txt", "lib/keep.py"} <= shipped, shipped
    assert not shipped & {"docs/a.md", "notes.txt", "tests/test_app.py", "multicloud.yaml"}, shipped

    assert json.loads(get(project.url + "/shown")[1]) == {"token": secret}
    status, body = get(project.url + "/leak")
    assert status == 500 and secret.encode() not in body
    deadline = time.monotonic() + 10  # access lines are written in batches (server_log: at most 50 ms late)
    while True:
        logs = live.logs().decode(errors="replace")
        if ("upstream refused key" in logs and "debug print" in logs) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert secret not in logs and "upstream refused key ***" in logs and "debug print ***" in logs, logs[-2000:]

    assert project.deploy().changed is False  # nothing changed: a no-op
    rotated = "tok-7d1e55aa-second"
    monkeypatch.setenv("MC_DOCKER_ROT", rotated)
    plan = project.provider.plan(project.build())
    release = next(s for s in plan.steps if s.kind == "function container" and s.action == "create")
    assert "secret values changed" in release.detail, plan
    second = project.deploy()
    assert second.changed is True and second.version == first.version  # same image, new values
    assert json.loads(get(project.url + "/shown")[1]) == {"token": rotated}
    assert project.provider.mode().live().id != live.id


def test_a_port_held_by_another_program_fails_before_anything_starts(engine: Any, tmp_path: Path,
                                                                     docker_kit: Any) -> None:
    import socket

    from multicloud.errors import OperationError

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        spec = docker_kit.write_project(tmp_path / "port", docker_kit.service_name("port"), docker=f"port: {port}")
        deployment = docker_kit.Deployed(spec)
        build = deployment.build()
        with pytest.raises(OperationError) as info:
            deployment.provider.deploy(build)
    assert f"port {port} on 127.0.0.1 is held by another program" in info.value.what
    name = deployment.provider.project.name
    assert engine.containers.list(all=True, filters={"label": f"io.multicloud.service={name}"}) == []
