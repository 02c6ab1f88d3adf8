"""Queue triggers on a Swarm: the service's broker is a three-node JetStream cluster (three Swarm services,
routes between them, streams replicated three ways) and the function runs two replicas sharing one queue.
1,000 messages while one function task and one broker task are killed (-9) mid-batch: every message handled
at least once, duplicates counted, both replicas did work, nothing left pending. The swarm is initialised for
the test when the engine is not in one, and left again afterwards."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from events_support import EngineService, publish, report_duplicates, wait_for

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def running_container(service: str, engine: Any) -> Any:
    containers = engine.containers.list(filters={"label": f"com.docker.swarm.service.name={service}",
                                                 "status": "running"})
    assert containers, f"no running task of {service}"
    return containers[0]


@pytest.fixture(scope="module")
def swarm_svc(engine: Any, broker_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineService]:
    initialised = engine.info()["Swarm"]["LocalNodeState"] == "inactive"
    if initialised:
        engine.swarm.init(advertise_addr="127.0.0.1", listen_addr="127.0.0.1:2377")
    service = EngineService(tmp_path_factory.mktemp("evswarm") / "svc", "evswarm", "mode: swarm\nreplicas: 2")
    try:
        service.deploy()
        yield service
    finally:
        try:
            service.provider.remove()
        finally:
            if initialised:
                engine.swarm.leave(force=True)


def test_three_node_cluster_two_replicas_survive_losing_a_function_task_and_a_broker_node(
        swarm_svc: EngineService, engine: Any) -> None:
    broker = swarm_svc.mode.broker()
    assert sorted(broker.services()) == broker.names() and len(broker.names()) == 3
    admin = broker.admin()
    channel = broker.topology.channel("queue", "orders")
    info = admin.stream_info(channel.stream)
    assert info.config.num_replicas == 3 and info.cluster is not None and len(info.cluster.replicas or []) == 2

    bodies = [f"m-{i:04d}" for i in range(1000)]
    publish(admin.servers, broker.creds.passwords()["producer"], channel.subject, [b.encode() for b in bodies])
    first = wait_for(lambda: len(swarm_svc.handled("m-")) >= 100 and swarm_svc.handled("m-"), 90,
                     "the first hundred messages")
    assert len({d["host"] for d in first}) == 2, "both replicas pull from the one queue"
    task = running_container(swarm_svc.mode.name, engine)
    os.kill(task.attrs["State"]["Pid"], signal.SIGKILL)  # one function replica, mid-batch
    wait_for(lambda: len({d["body"] for d in swarm_svc.handled("m-")}) >= 400, 90, "400 messages after the kill")
    node = running_container(broker.names()[1], engine)
    os.kill(node.attrs["State"]["Pid"], signal.SIGKILL)  # one of the three brokers
    wait_for(lambda: {d["body"] for d in swarm_svc.handled("m-")} >= set(bodies), 240, "every message")
    wait_for(lambda: swarm_svc.provider.pending("orders") == 0, 90, "an empty queue")  # redeliveries done too
    seen = swarm_svc.handled("m-")
    report_duplicates([d["body"] for d in seen], set(bodies), "swarm, a function task and a broker node killed")
    print(f"handled per task: { {h: sum(1 for d in seen if d['host'] == h) for h in {d['host'] for d in seen}} }")
    for killed in (task, node):
        killed.reload()
        assert killed.attrs["State"]["ExitCode"] == 137  # really killed; Swarm started replacements
    assert len(engine.containers.list(filters={"label": f"com.docker.swarm.service.name={swarm_svc.mode.name}",
                                               "status": "running"})) == 2
    # the routes' password is in the cluster's configuration (a Swarm secret), never in a broker's log
    passwords = broker.creds.passwords()
    for name in broker.names():
        for container in engine.containers.list(all=True, filters={"label": f"com.docker.swarm.service.name={name}"}):
            logs = container.logs().decode(errors="replace")
            assert "Server is ready" in logs and not any(p in logs for p in passwords.values())
