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
from typing import Any

import pytest
from events_support import EngineService, nats_error, publish, report_duplicates, wait_for
from typer.testing import CliRunner

from multicloud.cli.app import app, hoist_global_options

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def svc(broker_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineService]:
    service = EngineService(tmp_path_factory.mktemp("evdocker") / "a", "evq")
    service.deploy()
    yield service
    service.provider.remove()


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, hoist_global_options(list(args)))


def test_1000_messages_survive_killing_the_function_and_the_broker(svc: EngineService, engine: Any) -> None:
    admin = svc.mode.broker().admin()
    subject = svc.mode.broker().topology.channel("queue", "orders").subject
    bodies = [f"m-{i:04d}" for i in range(1000)]
    publish(admin.servers, svc.password("producer"), subject, [b.encode() for b in bodies])
    wait_for(lambda: len(svc.handled("m-")) >= 100, 60, "the first hundred messages")
    function = svc.mode.live()
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


def test_poison_messages_are_dead_lettered_after_exactly_max_attempts(svc: EngineService) -> None:
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


def test_services_on_one_engine_cannot_reach_each_others_broker(svc: EngineService, engine: Any,
                                                                 tmp_path_factory: pytest.TempPathFactory) -> None:
    other = EngineService(tmp_path_factory.mktemp("evdocker-b") / "b", "evb")
    other.deploy()
    try:
        other_broker = other.mode.broker().name
        # from inside A's function container, B's broker has no address at all (another network)
        probe = f"import socket; socket.getaddrinfo('{other_broker}', 4222)"
        code, out = svc.mode.live().exec_run(["python3", "-c", probe])
        assert code != 0 and b"gaierror" in out
        # and through B's published port, A's credentials are refused
        async def subscribe(nc: Any) -> None:
            await nc.subscribe(f"mc.{other.provider.project.name}.queue.orders")

        other_servers = other.mode.broker().admin().servers
        assert "authorization violation" in nats_error(other_servers, "runtime", svc.password("runtime"),
                                                       subscribe).lower()
        # no password in an image, a label, the container's configuration, the logs or the state file
        passwords = [svc.password(u) for u in ("admin", "runtime", "producer")]
        broker = engine.containers.get(svc.mode.broker().name)
        for container in (svc.mode.live(), broker):
            inspected = json.dumps(container.attrs) + json.dumps(engine.images.get(container.attrs["Image"]).attrs)
            logs = container.logs().decode(errors="replace")
            assert not any(p in inspected or p in logs for p in passwords)
        state = (svc.root / ".multicloud" / "state" / "docker.json").read_text()
        assert not any(p in state for p in passwords)
    finally:
        other.provider.remove()
