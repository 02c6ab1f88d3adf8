"""Calls of a function, read from the private runtime's JSON access lines (local and docker targets).

The runtime writes one JSON object per line (docs/private-runtime.md): `type: access` for each HTTP
request or CloudEvent it answered (status, duration_ms, function, request_id), `type: schedule` for
each schedule it fired and `type: event` for each batch it took from the broker (docs/events.md). All
become `Invocation`s; requests no function answered (`/healthz`, an unknown
path) and every other line are skipped. A 5xx answer, or a schedule whose run did not answer 200, is a
failed call.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from multicloud.provider import Invocation


def parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def invocation(record: object) -> Invocation | None:
    """The call one parsed log object records, or None when it records no call of a function."""
    if isinstance(record, dict) and record.get("type") == "event":
        return _batch(record)
    if not isinstance(record, dict) or record.get("type") not in ("access", "schedule"):
        return None
    function, status, when = record.get("function"), record.get("status"), parse_time(record.get("time"))
    if not isinstance(function, str) or not function or not isinstance(status, int) or when is None:
        return None  # a health probe, an unmatched path, a skipped schedule
    duration = record.get("duration_ms")
    error = None
    if record.get("timeout"):
        error = "timed out"
    elif status >= 500:
        error = str(record.get("error") or f"HTTP {status}")
    request_id = record.get("request_id")
    return Invocation(when, function, status < 500, float(duration) if isinstance(duration, (int, float)) else None,
                      status, str(request_id) if request_id else None, error)


def _batch(record: dict[str, object]) -> Invocation | None:
    """A batch the runtime took from the service's broker (queue, stream, storage): failed when any of its
    messages failed (they are retried, or dead-lettered after max_attempts)."""
    function, when, failed = record.get("function"), parse_time(record.get("time")), record.get("failed")
    if not isinstance(function, str) or when is None or not isinstance(failed, int):
        return None
    duration = record.get("duration_ms")
    error = str(record.get("error") or "failed") if failed else None
    return Invocation(when, function, failed == 0, float(duration) if isinstance(duration, (int, float)) else None,
                      None, None, error)


def records(lines: Iterable[str], marker: str = "") -> Iterator[dict[str, Any]]:
    """The JSON objects in log lines (a line may carry a prefix: docker's timestamp, Swarm's task name);
    lines without `marker` are not parsed at all."""
    for line in lines:
        start = line.find("{")
        if start < 0 or marker not in line:
            continue
        try:
            record = json.loads(line[start:])
        except ValueError:
            continue
        if isinstance(record, dict):
            yield record


def from_lines(lines: Iterable[str], function: str | None, since: datetime, limit: int) -> list[Invocation]:
    """The calls these log lines record, of `function` (or all), at or after `since`, the newest `limit`."""
    out: list[Invocation] = []
    for record in records(lines, '"type"'):
        call = invocation(record)
        if call is None or (function is not None and call.function != function) or call.time < since:
            continue
        out.append(call)
    out.sort(key=lambda c: c.time)
    return out[-limit:] if limit > 0 else []


def tail_lines(path: Path, max_bytes: int = 4 << 20) -> list[str]:
    """The last lines of a log file, reading at most `max_bytes` from its end (a long-lived service's log
    grows without bound; the dashboard only looks at recent calls)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            data = fh.read()
    except FileNotFoundError:
        return []
    lines = data.decode("utf-8", "replace").split("\n")
    if size > max_bytes:
        lines = lines[1:]  # the first one is cut
    return lines
