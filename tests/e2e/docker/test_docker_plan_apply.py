"""Plans on docker (single mode, a real Docker Engine): applying a plan makes exactly its steps' write calls,
counted on the wire (docker_wire: every POST/PUT/DELETE the SDK's APIClient sends, named after the engine
operation; a `docker exec` counts as the write `haproxy:set server` when it switches HAProxy's servers), for a
first deploy, an update (env change: a new release on the other slot), a rollback (a plan to the previous
release, shown by `rollback --dry-run`), a container removed by hand (the plan names the drift, a plan saved
before it is refused by `deploy --plan` naming the container, a fresh plan repairs it), and planning makes no
write at all; a plan saved before another deploy is refused too."""

from __future__ import annotations

import json
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
    API_KEY: env:MC_PLAN_API_KEY
  triggers:
    - http: {path: /private, methods: [GET]}
"""




def answer(url: str) -> dict[str, Any]:
    import urllib.request

    with urllib.request.urlopen(url + "/hello", timeout=20) as resp:
        data: dict[str, Any] = json.loads(resp.read())
        return data


def test_apply_makes_exactly_the_planned_writes(engine: Any, deployed: Any, wire: WireLog,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MC_PLAN_API_KEY", "k-" + "p" * 30)
    d = deployed("planapply", extra_functions=PRIVATE)
    spec: Path = d.spec
    plan, writes = apply_counted(d, wire)  # first deploy: network, secrets, release, gateway, switch
    assert writes == planned(plan), (writes, planned(plan))
    assert {"networks.create", "volumes.create", "containers.put_archive", "haproxy:set server"} <= set(writes)
    assert answer(d.url)["version"] == "v1"
    secret = next(f for s in plan.steps for f in s.fields if f.secret)
    assert "p" * 30 not in json.dumps(plan.document()) and secret.before is None and secret.after

    plan, writes = apply_counted(d, wire)  # nothing changed: nothing to do
    assert not plan.has_changes and writes == [], plan.steps

    spec.write_text(spec.read_text().replace('VERSION: "v1"', 'VERSION: "v2"'))  # an update: new env
    plan, writes = apply_counted(d, wire)
    assert writes == planned(plan), (writes, planned(plan))
    assert [s.action for s in plan.steps if s.kind == "function container"] == ["create", "delete"]
    assert "networks.create" not in writes and answer(d.url)["version"] == "v2"
    assert len(d.provider.mode().function_containers()) == 1

    # rollback is a plan to the previous release (v1): shown by --dry-run, applied with exactly its writes
    shown = cli(spec, "rollback", "-t", "docker", "--dry-run")
    assert shown.returncode == 0 and "create function container" in shown.stdout, shown.stdout + shown.stderr
    wire.writes.clear()
    back = d.provider.plan_rollback()
    assert wire.writes == [] and back.digest != plan.digest
    rolled = d.provider.rollback()
    assert wire.writes == planned(back), (wire.writes, planned(back))
    assert answer(rolled.details["url"])["version"] == "v1"
    plan, writes = apply_counted(d, wire)  # forward again to the spec's v2
    assert writes == planned(plan) and answer(d.url)["version"] == "v2"

    # a plan saved before somebody else's deploy is refused, naming the release that replaced the live one
    before = spec.parent / "before.json"
    assert cli(spec, "plan", "-t", "docker", "--out", str(before)).returncode == 0
    v2 = d.provider.mode().live().name
    text = spec.read_text()
    spec.write_text(text.replace('VERSION: "v2"', 'VERSION: "v3"'))
    assert cli(spec, "deploy", "-t", "docker").returncode == 0
    spec.write_text(text)  # back to the saved plan's spec: only the engine moved on
    stale = cli(spec, "deploy", "-t", "docker", "--plan", str(before))
    out = stale.stdout + stale.stderr
    assert stale.returncode == 1 and f"function container {v2}" in out, out
    assert answer(d.url)["version"] == "v3"  # nothing applied

    # a plan saved now; then the live container is removed by hand
    saved = spec.parent / "plan.json"
    made = cli(spec, "plan", "-t", "docker", "--out", str(saved))
    assert made.returncode == 0, made.stdout + made.stderr
    live = d.provider.mode().live()
    assert live is not None
    engine.containers.get(live.id).remove(force=True)

    refused = cli(spec, "deploy", "-t", "docker", "--plan", str(saved))
    out = refused.stdout + refused.stderr
    assert refused.returncode == 1 and f"function container {live.name}" in out, out
    assert d.provider.mode().function_containers() == []  # nothing applied

    plan, writes = apply_counted(d, wire)  # a fresh plan names the drift and repairs it
    drifted = [s.detail for s in plan.steps if s.drift]
    assert drifted == ["drift: the function container was deleted outside multicloud"], plan.steps
    assert writes == planned(plan), (writes, planned(plan))
    assert answer(d.url)["version"] == "v2"


QUEUE = """
work:
  handler: app.hello
  memory: 64
  timeout: 2
  triggers:
    - queue: {name: orders, batch_size: 10, max_attempts: 3}
"""
REFUNDS = """
refunds:
  handler: app.hello
  memory: 64
  timeout: 2
  triggers:
    - queue: {name: refunds, batch_size: 10, max_attempts: 3}
"""


def test_broker_resources_are_steps_with_their_writes(engine: Any, broker_image: str, deployed: Any,
                                                      wire: WireLog) -> None:
    """A queue trigger brings the broker: its configuration, store and container are steps whose calls are
    the engine writes (first deploy, no-op, a new queue: its stream declared before the new release starts,
    the broker stopped by hand: drift, started again)."""
    d = deployed("planbroker", docker=f"broker_image: {broker_image}", extra_functions=QUEUE)
    plan, writes = apply_counted(d, wire)
    assert writes == planned(plan), (writes, planned(plan))
    kinds = [s.kind for s in plan.steps if s.op]
    assert {"broker configuration", "broker store", "broker", "broker streams"} <= set(kinds), kinds
    assert "broker:ensure" not in writes and answer(d.url)["version"] == "v1"

    plan, writes = apply_counted(d, wire)  # nothing changed: nothing to do
    assert not plan.has_changes and writes == [], plan.steps

    d.spec.write_text(d.spec.read_text().replace("targets:", REFUNDS.replace("\n", "\n  ") + "\ntargets:", 1))
    plan, writes = apply_counted(d, wire)  # a new queue: the same configuration, a new stream and consumer
    assert writes == planned(plan), (writes, planned(plan))
    broker = [s.op for s in plan.steps if s.kind.startswith("broker") and s.op]
    assert broker == ["broker.streams", "broker.prune"], plan.steps

    name = d.provider.mode().broker().name
    engine.containers.get(name).stop(timeout=5)
    plan, writes = apply_counted(d, wire)  # stopped by hand: drift, started again
    assert writes == planned(plan), (writes, planned(plan))
    step = next(s for s in plan.steps if s.kind == "broker")
    assert step.op == "broker.start" and step.drift, step
    assert engine.containers.get(name).status == "running"
