"""Batches the runtime took from the broker count as calls of their function (the dashboard's invocations):
the consumer's `type: event` lines, as the runtime's JsonLog writes them."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

from multicloud.access_log import from_lines
from multicloud.runtime.server_log import JsonLog


def test_broker_batches_are_invocations() -> None:
    out = io.StringIO()
    log = JsonLog(out)
    log.write({"level": "INFO", "type": "event", "function": "work", "message": "batch handled", "kind": "queue",
               "name": "orders", "messages": 10, "failed": 0, "duration_ms": 4.2})
    log.write({"level": "ERROR", "type": "event", "function": "work", "message": "batch failed in part",
               "kind": "queue", "name": "orders", "messages": 10, "failed": 2, "duration_ms": 5.0,
               "error": "the handler reported it failed (BatchResult)"})
    log.write({"level": "ERROR", "type": "dead-letter", "function": "work", "message": "moved to the dead letters"})
    log.write({"level": "INFO", "type": "broker", "message": "consuming"})
    calls = from_lines(out.getvalue().splitlines(), None, datetime.now(timezone.utc) - timedelta(hours=1), 10)
    assert [(c.function, c.ok, c.duration_ms, c.error) for c in calls] == [
        ("work", True, 4.2, None), ("work", False, 5.0, "the handler reported it failed (BatchResult)")]
