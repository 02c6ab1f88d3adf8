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
from events_support import EngineService, docker_fixtures, nats_error, publish, report_duplicates, wait_for
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


def planned_without_writes(service: Any) -> tuple[Any, list[str]]:
    """A plan of the deployed service, and the engine write requests planning sent (a `docker exec` reads:
    health probes and HAProxy `show` commands)."""
    from docker.api.client import APIClient

    from multicloud.state import build_dir

    build = service.provider.build(build_dir(service.provider.project, "docker"))
    writes: list[str] = []
    originals = {m: getattr(APIClient, m) for m in ("_post", "_put", "_delete")}

    def counting(name: str) -> Any:
        def call(self: Any, url: str, *args: Any, **kwargs: Any) -> Any:
            if not (name == "_post" and ("/exec" in url)):
                writes.append(f"{name} {url}")
            return originals[name](self, url, *args, **kwargs)
        return call

    for name in originals:
        setattr(APIClient, name, counting(name))
    try:
        plan = service.provider.plan(build)
    finally:
        for name, original in originals.items():
            setattr(APIClient, name, original)
    return plan, writes


def test_gateway_broker_and_blue_green_functions_coexist_and_remove_takes_all(broker_image: str, engine: Any,
                                                                              tmp_path: Any) -> None:
    """A service with an HTTP function and a queue function: one deploy runs the HAProxy gateway, the
    broker and the function container, every one labelled as the service's; a redeploy moves the function
    to the other blue/green slot behind the same gateway and broker, and both triggers keep working;
    `remove` leaves no container, volume or network of the service."""
    import urllib.request

    from multicloud.project import Project
    from multicloud.providers.docker import DockerProvider
    from multicloud.providers.docker import engine as eng
    from multicloud.providers.docker.proxy import SLOT_LABEL

    service = EngineService(tmp_path / "mixed", "evmix")
    spec = service.root / "multicloud.yaml"
    spec.write_text(spec.read_text().replace(
        "functions:\n",
        "functions:\n  api:\n    handler: app.api\n    triggers:\n      - http: {path: /api, methods: [GET]}\n", 1))
    service.provider = DockerProvider(Project.load(service.root))
    service.mode = service.provider.mode()
    name = service.provider.project.name
    try:
        result = service.deploy()
        url = next(e.url for e in result.endpoints if e.function == "api")  # the route's own URL
        roles = {c.labels[eng.ROLE]: c for c in engine.containers.list(filters=eng.owned(name))}
        assert {"gateway", "broker", "function"} <= set(roles), sorted(roles)
        assert all(c.labels.get(docker_fixtures.TEST_LABEL) == docker_fixtures.SESSION for c in roles.values())
        first_slot, broker_id = roles["function"].labels[SLOT_LABEL], roles["broker"].id

        def serves_both(prefix: str) -> None:
            with urllib.request.urlopen(url, timeout=10) as resp:
                assert json.loads(resp.read()) == {"ok": True}
            broker = service.mode.broker()
            subject = broker.topology.channel("queue", "orders").subject
            publish(broker.admin().servers, service.password("producer"), subject,
                    [f"{prefix}-{i}".encode() for i in range(5)])
            wait_for(lambda: len(service.handled(prefix)) >= 5, 30, f"{prefix} messages were not handled")

        serves_both("blue-green-1")
        plan, writes = planned_without_writes(service)  # the broker's configuration is read through it
        assert [s.action for s in plan.steps if s.kind == "broker"] == ["noop"] and not plan.has_changes, plan
        assert writes == [], writes
        (service.root / "app.py").write_text((service.root / "app.py").read_text() + "\n# a new version\n")
        service.deploy()
        functions = engine.containers.list(filters=eng.owned(name, "function"))
        assert len(functions) == 1 and functions[0].labels[SLOT_LABEL] != first_slot
        assert engine.containers.get(service.mode.broker().name).id == broker_id  # the broker stays
        serves_both("blue-green-2")
    finally:
        service.provider.remove()
    owned = eng.owned(name)
    assert engine.containers.list(all=True, filters=owned) == []
    assert engine.volumes.list(filters=owned) == []
    assert engine.networks.list(filters=owned) == []

