"""`multicloud move --from local --to docker` of a queue service, both ends on real NATS JetStream brokers
(local's nats-server under the supervisor, docker's broker container): a destination whose consumer is
broken fails its probe and leaves the source serving; a source with 200 messages in flight is drained
before it is removed (a first move with a too-short --drain-timeout removes nothing, the rerun finishes),
no message is lost, the probe never reaches the handler, and producers are told where to send now."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from events_support import BROKER_IMAGE, docker_fixtures, log_lines, messages_of, publish, wait_for
from typer.testing import CliRunner

from multicloud import orchestrate
from multicloud.cli.app import app, hoist_global_options
from multicloud.errors import OperationError
from multicloud.move import move_service
from multicloud.project import Project
from multicloud.provider import to_jsonable
from multicloud.providers.docker import DockerProvider
from multicloud.providers.local import LocalProvider

pytestmark = [pytest.mark.docker, pytest.mark.slow]

APP = '''
import os
import time
from pathlib import Path


def work(event, context):
    """Records every message it handles: a file per body on local (the test's folder), a log line anywhere."""
    for m in event.messages:
        context.logger.info("handled", body=m.text, id=m.id)
        if context.target == "local":
            (Path(os.environ["OUT_DIR"]) / m.text).write_text(m.id)
        time.sleep(float(os.environ["WORK_SLEEP"]))
'''

SPEC = """\
service: {service}
functions:
  work:
    handler: app.work
    timeout: 5
    memory: 128
    env: {{OUT_DIR: "{out}", WORK_SLEEP: "0.05"}}
    triggers:
      - queue: {{name: orders, batch_size: 5, max_attempts: 3}}
targets:
  local: {{}}
  docker:
    base_image: {base}
    broker_image: {broker}
    labels: {{{label}: "{session}"}}
"""


@pytest.fixture(scope="module")
def root(nats_server: Path, broker_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The queue service, deployed on local; removed from both targets afterwards."""
    base = tmp_path_factory.mktemp("evmove")
    out = base / "handled"
    out.mkdir()
    root = base / "svc"
    root.mkdir()
    (root / "app.py").write_text(APP)
    (root / "multicloud.yaml").write_text(SPEC.format(
        service=docker_fixtures.service_name("evmove"), out=out, base=docker_fixtures.BASE_IMAGE, broker=BROKER_IMAGE,
        label=docker_fixtures.TEST_LABEL, session=docker_fixtures.SESSION))
    try:
        orchestrate.deploy(Project.load(root), "local", lambda _m: None)
        yield root
    finally:  # also after a deploy that failed half-way
        for target in ("docker", "local"):
            try:
                orchestrate.provider_for(Project.load(root), target).remove()
            except Exception:  # noqa: BLE001 - not there any more: the move removed it
                pass


def local(root: Path) -> LocalProvider:
    return LocalProvider(Project.load(root))


def docker(root: Path) -> DockerProvider:
    return DockerProvider(Project.load(root))


def handled_files(root: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in (root.parent / "handled").iterdir()}


def publish_on_local(root: Path, bodies: list[str]) -> None:
    broker = root / ".multicloud" / "local" / "broker"
    url = f"nats://127.0.0.1:{json.loads((broker / 'broker.json').read_text())['port']}"
    password = json.loads((broker / "passwords.json").read_text())["producer"]
    subject = local(root)._topology().channel("queue", "orders").subject
    publish([url], password, subject, [b.encode() for b in bodies])


def delete_consumer(provider: DockerProvider) -> None:
    """Breaks the destination's consumer the way an operator's mistake would: its JetStream consumer is gone
    (the runtime keeps running and healthy, its pulls answer 409)."""
    topo = provider._topology()
    sub = topo.subscriptions[0]

    async def work(_nc: Any, js: Any) -> None:
        await js.delete_consumer(sub.channel.stream, sub.consumer)

    provider._broker_admin()._run(work)


def test_a_destination_whose_consumer_is_broken_fails_its_probe_and_the_source_keeps_serving(
        root: Path, engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    real_deploy = orchestrate.deploy

    def deploy_then_break(project: Project, target: str, progress: Any) -> Any:
        result = real_deploy(project, target, progress)
        delete_consumer(docker(root))
        return result

    monkeypatch.setattr(orchestrate, "deploy", deploy_then_break)
    lines: list[str] = []
    with pytest.raises(OperationError) as info:
        move_service(Project.load(root), "local", "docker", lines.append, drain_s=0, probe_timeout=8)
    assert "acknowledged the probe" in info.value.what and "queue orders -> work" in info.value.what, info.value.what
    assert "local keeps serving" in info.value.what
    assert not docker(root).status().deployed  # the half-made destination is gone
    assert engine.containers.list(all=True, filters={"label": f"io.multicloud.service={Project.load(root).name}"}) \
        == []
    assert local(root).status().deployed
    publish_on_local(root, ["after-failed-probe"])
    wait_for(lambda: "after-failed-probe" in handled_files(root), 30, "the source to handle a new message")
    assert not any(line.startswith("removing from") for line in lines), lines


def test_move_drains_200_messages_in_flight_on_the_source_then_removes_it(root: Path) -> None:
    bodies = [f"m-{i:03d}" for i in range(200)]
    lines: list[str] = []
    at_removal: dict[str, Any] = {}

    def progress(line: str) -> None:
        lines.append(line)
        if line.startswith("probing") and not any(x.startswith("published") for x in lines):
            publish_on_local(root, bodies)  # producers still send to the source while the move runs
            lines.append("published 200")
        if line == "removing from local":
            at_removal["pending"] = local(root).pending("orders")
            at_removal["handled"] = set(handled_files(root))

    # 1. too short a wait: nothing is removed, both ends consume, the user is told to run it again
    with pytest.raises(OperationError) as info:
        move_service(Project.load(root), "local", "docker", progress, drain_s=0, drain_timeout=0.5)
    assert "did not empty" in info.value.what and "nothing was removed" in info.value.what, info.value.what
    assert "run the same `multicloud move` again" in (info.value.fix or "")
    assert local(root).status().deployed and docker(root).status().deployed
    assert "pending" not in at_removal
    # 2. the same move again, as the error says: it waits for the queue to empty (`-o json` prints this result)
    result: dict[str, Any] = to_jsonable(move_service(  # type: ignore[assignment]
        Project.load(root), "local", "docker", progress, drain_s=0, drain_timeout=120))
    drain_lines = [x for x in lines if x.startswith("draining local")]
    assert drain_lines and "orders:" in drain_lines[0] and "pending" in drain_lines[0], lines
    print("\nmove local->docker:", *[x for x in lines if x.startswith(("draining", "probing", "docker consumes"))],
          sep="\n  ")
    assert at_removal["pending"] == 0
    assert set(bodies) <= at_removal["handled"], sorted(set(bodies) - at_removal["handled"])[:5]
    assert result["source"] == "local" and result["destination"] == "docker"
    events = result["events"]
    assert events["probed"] == ["queue orders -> work"]
    assert events["drained"]["orders"].startswith("empty after")
    [producers] = events["producers"]
    assert producers["kind"] == "queue" and producers["name"] == "orders" and producers["user"] == "producer"
    assert producers["address"] == docker(root)._topology().channel("queue", "orders").subject
    assert producers["broker"].startswith("nats://") and "-t docker --queue orders" in producers["send"]
    assert not local(root).status().deployed
    # the destination consumes what producers send there now; the probe never reached the handler
    for i in range(20):
        sent = CliRunner().invoke(app, hoist_global_options(
            ["send", str(root), "-t", "docker", "--queue", "orders", "-d", f"n-{i:02d}"]))
        assert sent.exit_code == 0, sent.stdout
    dst = docker(root)
    wait_for(lambda: dst.pending("orders") == 0, 60, "the destination to empty its queue")
    logs = log_lines(dst.mode().live().logs().decode(errors="replace"))
    handled = {d["body"] for d in messages_of(logs, "handled")}
    assert {f"n-{i:02d}" for i in range(20)} <= handled
    assert not [b for b in handled if "probe" in b], handled
    assert len(messages_of(logs, "probe acknowledged without calling the handler")) >= 1


def test_move_cli_prints_where_producers_send(root: Path) -> None:
    """The text summary (the previous test left the service on docker): move it back to local."""
    res = CliRunner().invoke(app, hoist_global_options(
        ["move", str(root), "--from", "docker", "--to", "local", "--drain-timeout", "60"]))
    assert res.exit_code == 0, res.stdout
    subject = local(root)._topology().channel("queue", "orders").subject
    assert "producers now send to:" in res.stdout and f"subject {subject} at nats://127.0.0.1:" in res.stdout
    assert "messages still sent to docker were consumed there until it was removed" in res.stdout
