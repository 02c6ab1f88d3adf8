"""Plans on docker's swarm mode (a real single-node Swarm): applying a plan makes exactly its steps' write
calls, counted on the wire (docker_wire: every POST/PUT/DELETE the SDK sends, `services.create`,
`services.update`, `secrets.create`, `secrets.remove`...), for a first deploy, a no-op (no write at all), an
env change (a rolling update that keeps the Swarm secrets), a rollback (a plan to the previous release),
changes made by hand (the function service scaled, the gateway service removed: the plan names both as
drift and repairs them), and a plan saved before somebody else's deploy, refused by `deploy --plan`.

With a queue trigger the broker (a three-node JetStream cluster) is planned resource by resource too: its
password secrets, its configuration secret, each node's store and service, its streams; a new queue only
declares streams, and a node's service removed by hand is the one step that recreates it. That messages
really flow through such a cluster is tests/e2e/events/test_events_swarm.py's proof."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from docker_wire import WireLog, apply_counted, cli, planned

pytestmark = [pytest.mark.docker, pytest.mark.slow]

PRIVATE = """
private:
  handler: app.private
  memory: 64
  secrets:
    API_KEY: env:MC_SWARM_PLAN_KEY
  triggers:
    - http: {path: /private, methods: [GET]}
"""


QUEUE = """
orders:
  handler: app.hello
  memory: 64
  timeout: 2
  triggers:
    - queue: {name: orders, batch_size: 10, max_attempts: 3}
"""
REFUNDS = QUEUE.replace("orders", "refunds")


def answer(url: str, timeout: float = 60) -> dict[str, Any]:
    """The function's answer through the gateway (its task may take a moment to be routed)."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url + "/hello", timeout=10) as resp:
                data: dict[str, Any] = json.loads(resp.read())
                return data
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_swarm_apply_makes_exactly_the_planned_writes(swarm: Any, deployed: Any, wire: WireLog,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MC_SWARM_PLAN_KEY", "k-" + "s" * 30)
    d = deployed("swplan", docker="mode: swarm\nreplicas: 1", extra_functions=PRIVATE)
    spec: Path = d.spec
    name = f"mc-{d.provider.project.name}"

    plan, writes = apply_counted(d, wire)  # first deploy: network, secrets, function service, gateway service
    assert writes == planned(plan), (writes, planned(plan))
    assert writes.count("services.create") == 2 and "networks.create" in writes
    assert writes.count("secrets.create") == 1  # API_KEY (the auth key too when a route wants one)
    assert answer(d.url)["version"] == "v1"
    assert "s" * 30 not in json.dumps(plan.document())

    plan, writes = apply_counted(d, wire)  # nothing changed: nothing to do, no write
    assert not plan.has_changes and writes == [], plan.steps

    spec.write_text(spec.read_text().replace('VERSION: "v1"', 'VERSION: "v2"'))  # env change: rolling update
    plan, writes = apply_counted(d, wire)
    assert writes == planned(plan) == ["services.update"], (writes, planned(plan))  # same secrets, kept
    assert answer(d.url)["version"] == "v2"

    # rollback: a plan to the previous release, applied with exactly its writes
    wire.writes.clear()
    back = d.provider.plan_rollback()
    assert wire.writes == [] and [s.resource for s in back.steps if s.op] == [f"function service {name}"]
    rolled = d.provider.rollback()
    assert wire.writes == planned(back) == ["services.update"], wire.writes
    assert answer(rolled.details["url"])["version"] == "v1"
    plan, writes = apply_counted(d, wire)  # forward again to the spec's v2
    assert writes == planned(plan) and answer(d.url)["version"] == "v2"

    # by hand: the function service scaled to 2, the gateway service removed
    swarm.services.get(name).scale(2)
    swarm.services.get(f"{name}-gateway").remove()
    plan, writes = apply_counted(d, wire)
    drifted = sorted(s.detail for s in plan.steps if s.drift)
    assert drifted == [f"drift: gateway service {name}-gateway was deleted outside multicloud",
                       f"drift: replicas of function service {name} changed outside multicloud"], plan.steps
    assert writes == planned(plan) == ["services.update", "services.create"], (writes, planned(plan))
    assert swarm.services.get(name).attrs["Spec"]["Mode"]["Replicated"]["Replicas"] == 1
    assert answer(d.url)["version"] == "v2"

    # a plan saved before somebody else's deploy is refused, naming the function service
    saved = spec.parent / "plan.json"
    made = cli(spec, "plan", "-t", "docker", "--out", str(saved), timeout=600)
    assert made.returncode == 0, made.stdout + made.stderr
    text = spec.read_text()
    spec.write_text(text.replace('VERSION: "v2"', 'VERSION: "v3"'))
    other = cli(spec, "deploy", "-t", "docker", timeout=600)
    assert other.returncode == 0, other.stdout + other.stderr
    spec.write_text(text)  # back to the saved plan's spec: only the swarm moved on
    stale = cli(spec, "deploy", "-t", "docker", "--plan", str(saved), timeout=600)
    out = stale.stdout + stale.stderr
    assert stale.returncode == 1 and f"function service {name}" in out, out
    assert answer(d.url)["version"] == "v3"  # nothing applied


def test_swarm_broker_resources_are_steps_with_their_writes(swarm: Any, broker_image: str, deployed: Any,
                                                            wire: WireLog) -> None:
    d = deployed("swbroker", docker=f"mode: swarm\nreplicas: 1\nbroker_image: {broker_image}", extra_functions=QUEUE)

    plan, writes = apply_counted(d, wire)  # first deploy: the cluster, resource by resource
    assert writes == planned(plan), (writes, planned(plan))
    broker_ops = [s.op for s in plan.steps if s.kind.startswith("broker") and s.op]
    assert broker_ops == ["broker.auth", "broker.config", *["broker.store"] * 3, *["broker.node"] * 3,
                          "broker.streams", "broker.prune"], plan.steps
    assert writes.count("secrets.create") == 4 and writes.count("services.create") == 5, writes
    broker = d.provider.mode().broker()
    passwords = broker.creds.passwords()
    document = json.dumps(plan.document())
    state = (d.spec.parent / ".multicloud" / "state" / "docker.json").read_text()
    assert not [p for p in passwords.values() if p in document or p in state]
    admin = broker.admin()
    orders = broker.topology.channel("queue", "orders")
    assert admin.stream_info(orders.stream).config.num_replicas == 3
    assert answer(d.url)["version"] == "v1"

    plan, writes = apply_counted(d, wire)  # nothing changed: no write
    assert not plan.has_changes and writes == [], plan.steps

    d.spec.write_text(d.spec.read_text().replace("targets:", REFUNDS.replace("\n", "\n  ") + "\ntargets:", 1))
    plan, writes = apply_counted(d, wire)  # a new queue: streams only (the admin's password read), no node touched
    assert writes == planned(plan) == ["containers.create", "containers.remove", "services.update"], plan.steps
    assert [s.op for s in plan.steps if s.kind.startswith("broker") and s.op] == ["broker.streams", "broker.prune"]
    broker = d.provider.mode().broker()  # the spec's new topology
    refunds = broker.topology.channel("queue", "refunds").stream
    assert broker.admin().stream_info(refunds).config.num_replicas == 3

    node = broker.names()[1]
    swarm.services.get(node).remove()  # by hand: one node's service
    plan, writes = apply_counted(d, wire)
    assert [s.detail for s in plan.steps if s.drift] == [f"drift: broker service {node} was deleted outside multicloud"]
    assert [(s.op, s.resource) for s in plan.steps if s.op] == [
        ("broker.node", f"broker service {node}"), ("broker.streams", f"broker streams {broker.names()[0]}")]
    assert writes == planned(plan) == ["services.create", "containers.create", "containers.remove"], writes
    assert sorted(broker.services()) == broker.names()

    plan, writes = apply_counted(d, wire)  # converged again
    assert not plan.has_changes and writes == [], plan.steps
