"""Queue triggers on the docker target, single mode, on a real engine with the air-gapped broker image:
1,000 messages while the function container and the broker container are killed (-9) mid-batch, poison
messages dead-lettered after exactly max_attempts and brought back with `multicloud dead-letters --retry`,
and two services on one engine unable to reach each other's broker. Credentials stay out of images, labels,
`docker inspect`, logs and the state file."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from events_support import (
    APP,
    BROKER_IMAGE,
    docker_fixtures,
    log_lines,
    messages_of,
    nats_error,
    publish,
    report_duplicates,
    wait_for,
)
from typer.testing import CliRunner

from multicloud.cli.app import app, hoist_global_options

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def spec(service: str, *, sleep: str = "0.004") -> str:
    return f"""\
service: {service}
functions:
  work:
    handler: app.work
    timeout: 2
    memory: 128
    env: {{WORK_SLEEP: "{sleep}"}}
    triggers:
      - queue: {{name: orders, batch_size: 10, max_attempts: 3}}
targets:
  docker:
    base_image: {docker_fixtures.BASE_IMAGE}
    broker_image: {BROKER_IMAGE}
    labels: {{{docker_fixtures.TEST_LABEL}: "{docker_fixtures.SESSION}"}}
"""


class DockerService:
    def __init__(self, root: Path, service: str) -> None:
        from multicloud.project import Project
        from multicloud.providers.docker import DockerProvider

        root.mkdir(parents=True)
        (root / "app.py").write_text(APP)
        (root / "multicloud.yaml").write_text(spec(service))
        self.root = root
        self.provider = DockerProvider(Project.load(root))
        self.mode = self.provider.mode()

    def deploy(self) -> Any:
        from multicloud.state import build_dir

        return self.provider.deploy(self.provider.build(build_dir(self.provider.project, "docker")))

    def admin(self) -> Any:
        return self.mode.broker().admin()

    def password(self, user: str) -> str:
        return str(self.mode.broker().creds.passwords()[user])

    def live(self) -> Any:
        return self.mode.live()

    def handled(self, prefix: str) -> list[dict[str, Any]]:
        lines = log_lines(self.live().logs().decode(errors="replace"))
        return [d for d in messages_of(lines, "handled") if str(d.get("body", "")).startswith(prefix)]


@pytest.fixture(scope="module")
def svc(engine: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerService]:
    try:
        engine.images.get(BROKER_IMAGE)
    except Exception:  # noqa: BLE001
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {BROKER_IMAGE} is missing; .ci/setup-docker.sh builds it")
        pytest.skip(f"{BROKER_IMAGE} is not built (multicloud docker broker-image)")
    service = DockerService(tmp_path_factory.mktemp("evdocker") / "a", docker_fixtures.service_name("evq"))
    service.deploy()
    yield service
    service.provider.remove()


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, hoist_global_options(list(args)))


def test_1000_messages_survive_killing_the_function_and_the_broker(svc: DockerService, engine: Any) -> None:
    admin = svc.admin()
    subject = svc.mode.broker().topology.channel("queue", "orders").subject
    bodies = [f"m-{i:04d}" for i in range(1000)]
    publish(admin.servers, svc.password("producer"), subject, [b.encode() for b in bodies])
    wait_for(lambda: len(svc.handled("m-")) >= 100, 60, "the first hundred messages")
    function = svc.live()
    os.kill(function.attrs["State"]["Pid"], signal.SIGKILL)  # the function's PID 1, mid-batch (4 ms a message)
    wait_for(lambda: len({d["body"] for d in svc.handled("m-")}) >= 400, 90, "400 messages after the kill")
    broker = engine.containers.get(svc.mode.broker().name)
    os.kill(broker.attrs["State"]["Pid"], signal.SIGKILL)  # the broker, messages still queued
    wait_for(lambda: {d["body"] for d in svc.handled("m-")} >= set(bodies), 180, "every message")
    wait_for(lambda: svc.provider.pending("orders") == 0, 60, "an empty queue")  # redeliveries done too
    report_duplicates([d["body"] for d in svc.handled("m-")], set(bodies), "docker single, function and broker killed")
    function.reload()
    broker.reload()
    assert function.attrs["RestartCount"] >= 1 and broker.attrs["RestartCount"] >= 1


def test_poison_messages_are_dead_lettered_after_exactly_max_attempts(svc: DockerService) -> None:
    root = str(svc.root)
    assert cli("send", root, "-t", "docker", "--queue", "orders", "-d", "poison-d").exit_code == 0
    letters = wait_for(lambda: svc.provider.dead_letters("orders"), 60, "a dead letter")
    assert [(d.body, d.attempts) for d in letters] == [(b"poison-d", 3)]
    assert sorted(d["attempt"] for d in svc.handled("poison-d")) == [1, 2, 3]
    res = cli("dead-letters", root, "-t", "docker", "--retry")
    assert res.exit_code == 0 and "sent back 1" in res.stdout
    wait_for(lambda: len(svc.handled("poison-d")) == 6 and svc.provider.dead_letters("orders"), 60,
             "three more attempts after --retry")
    assert cli("dead-letters", root, "-t", "docker", "--purge", "--yes").exit_code == 0
    assert svc.provider.dead_letters("orders") == []


def test_services_on_one_engine_cannot_reach_each_others_broker(svc: DockerService, engine: Any,
                                                                 tmp_path_factory: pytest.TempPathFactory) -> None:
    other = DockerService(tmp_path_factory.mktemp("evdocker-b") / "b", docker_fixtures.service_name("evb"))
    other.deploy()
    try:
        other_broker = other.mode.broker().name
        # from inside A's function container, B's broker has no address at all (another network)
        probe = f"import socket; socket.getaddrinfo('{other_broker}', 4222)"
        code, out = svc.live().exec_run(["python3", "-c", probe])
        assert code != 0 and b"gaierror" in out
        # and through B's published port, A's credentials are refused
        async def subscribe(nc: Any) -> None:
            await nc.subscribe(f"mc.{other.provider.project.name}.queue.orders")

        assert "authorization violation" in nats_error(other.admin().servers, "runtime", svc.password("runtime"),
                                                       subscribe).lower()
        # no password in an image, a label, the container's configuration, the logs or the state file
        passwords = [svc.password(u) for u in ("admin", "runtime", "producer")]
        broker = engine.containers.get(svc.mode.broker().name)
        for container in (svc.live(), broker):
            inspected = json.dumps(container.attrs) + json.dumps(engine.images.get(container.attrs["Image"]).attrs)
            logs = container.logs().decode(errors="replace")
            assert not any(p in inspected or p in logs for p in passwords)
        state = (svc.root / ".multicloud" / "state" / "docker.json").read_text()
        assert not any(p in state for p in passwords)
    finally:
        other.provider.remove()
