"""The event steps of `multicloud move` against the local target's real nats-server and runtime, no Docker:
a probe on every trigger kind (queue, stream, bucket) is acknowledged by each reading function's consumer
without calling its handler; the drain reports counts and waits while the consumer works through 200
messages; a queue that does not empty in time fails with a clear error; dead letters stop a removal."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from events_support import APP, FUNCTIONS, log_lines, messages_of, publish, wait_for

from multicloud import move_events
from multicloud.errors import OperationError
from multicloud.project import Project
from multicloud.providers.local import LocalProvider
from multicloud.state import build_dir

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def provider(nats_server: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalProvider]:
    root = tmp_path_factory.mktemp("evmovelocal")
    (root / "app.py").write_text(APP)
    (root / "multicloud.yaml").write_text("service: evmovelocal\n" + FUNCTIONS.format(sleep="0.01")
                                          + "targets:\n  local: {}\n")
    provider = LocalProvider(Project.load(root))
    try:
        provider.deploy(provider.build(build_dir(provider.project, "local")))
        yield provider
    finally:  # a deploy that failed half-way may have started the supervisor and the broker
        provider.remove()


def service_log(provider: LocalProvider) -> list[dict[str, object]]:
    return log_lines((provider.rundir / "service.log").read_text())


def test_probe_reaches_every_consumer_and_no_handler(provider: LocalProvider) -> None:
    lines: list[str] = []
    proven = move_events.probe(provider.project, provider, lines.append, timeout=30)
    assert sorted(proven) == ["queue orders -> work", "storage photos.raw -> uploads", "stream clicks -> clicks"]
    log = service_log(provider)
    probes = messages_of(log, "probe acknowledged without calling the handler")
    assert {(d["function"], d["kind"]) for d in probes} >= {("work", "queue"), ("clicks", "stream"),
                                                            ("uploads", "storage")}
    # the handlers log every message, record and object they see: none of them saw a probe
    assert not messages_of(log, "handled") and not messages_of(log, "record") and not messages_of(log, "object")
    assert provider.pending("orders") == 0
    assert any(line.startswith("local consumes: ") for line in lines)


def test_drain_waits_for_200_messages_and_reports_counts(provider: LocalProvider) -> None:
    broker = provider.rundir / "broker"
    url = f"nats://127.0.0.1:{json.loads((broker / 'broker.json').read_text())['port']}"
    password = json.loads((broker / "passwords.json").read_text())["producer"]
    subject = provider._topology().channel("queue", "orders").subject
    bodies = [f"d-{i:03d}" for i in range(200)]
    publish([url], password, subject, [b.encode() for b in bodies])
    lines: list[str] = []
    drained = move_events.drain(provider.project, provider, lines.append, timeout=120, poll=0.2)
    assert drained["orders"].startswith("empty after")
    counts = [int(line.split("orders: ")[1].split()[0]) for line in lines if line.startswith("draining local")]
    assert counts and counts[0] > 0, lines  # it saw messages pending and waited
    assert provider.pending("orders") == 0
    handled = {d["body"] for d in messages_of(service_log(provider), "handled")}
    assert set(bodies) <= handled


def test_drain_timeout_and_dead_letters_fail_clearly(provider: LocalProvider) -> None:
    broker = provider.rundir / "broker"
    url = f"nats://127.0.0.1:{json.loads((broker / 'broker.json').read_text())['port']}"
    password = json.loads((broker / "passwords.json").read_text())["producer"]
    subject = provider._topology().channel("queue", "orders").subject
    publish([url], password, subject, [b"poison-1"])  # fails 3 times (1 s + 2 s apart), then a dead letter
    with pytest.raises(OperationError) as info:
        move_events.drain(provider.project, provider, lambda _m: None, timeout=0.5, destination="docker")
    assert "did not empty in 0.5 s (orders: 1 pending)" in info.value.what, info.value.what
    assert "local and docker both consume now" in info.value.what
    assert "--drain-timeout" in (info.value.fix or "")
    wait_for(lambda: provider.dead_letters("orders"), 30, "the poison message in the dead letters")
    with pytest.raises(OperationError) as info:
        move_events.drain(provider.project, provider, lambda _m: None, timeout=10)
    assert "holds dead letters of orders" in info.value.what
    provider.purge_dead_letters("orders")
    assert move_events.drain(provider.project, provider, lambda _m: None, timeout=10)["orders"].startswith("empty")
