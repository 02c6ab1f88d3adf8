"""`multicloud logs --target local`: read (and follow) the runtime's JSON log file.

Every line the runtime writes is one JSON object (access lines, schedule firings, lifecycle lines and the
handlers' `context.logger` lines); a line that is not JSON (a handler's bare `print`) is kept as text.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from multicloud.provider import LogRecord

FOLLOW_POLL = 0.25


def _parse_time(value: object) -> datetime:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
    return datetime.now(timezone.utc)


def summary(record: dict[str, Any]) -> str:
    kind = record.get("type")
    if kind == "access":
        text = f"{record.get('method', '-')} {record.get('path', '-')} {record.get('status')}"
        if "duration_ms" in record:
            text += f" {float(record['duration_ms']):.1f}ms"
        if record.get("error"):
            text += f" ({record['error']})"
        return text
    if kind == "schedule":
        if record.get("skipped"):
            return f"schedule {record.get('schedule')} skipped: {record['skipped']}"
        return f"schedule {record.get('schedule')} -> {record.get('status')}"
    message = str(record.get("message", ""))
    extra = {k: v for k, v in record.items()
             if k not in ("time", "level", "severity", "message", "function", "request_id", "target", "type",
                          "traceback")}
    if extra:
        message += " " + json.dumps(extra, default=str, sort_keys=True)
    if record.get("traceback"):
        message += "\n" + str(record["traceback"]).rstrip()
    return message


def to_record(line: str) -> LogRecord | None:
    line = line.strip()
    if not line:
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return LogRecord(datetime.now(timezone.utc), "-", line)
    if not isinstance(record, dict):
        return LogRecord(datetime.now(timezone.utc), "-", line)
    if record.get("type") == "access" and record.get("path") == "/healthz":
        return None  # `status` probes (the dashboard's every few seconds): noise for a reader, as on docker
    function = str(record.get("function") or ("server" if record.get("type") == "server" else "-"))
    return LogRecord(_parse_time(record.get("time")), function, summary(record))


def read(path: Path, function: str | None, since: datetime | None, follow: bool) -> Iterator[LogRecord]:
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=timezone.utc)
    position = 0
    pending = ""
    while True:
        try:
            with path.open("r", errors="replace") as fh:
                fh.seek(position)
                chunk = fh.read()
                position = fh.tell()
        except FileNotFoundError:
            chunk = ""
        pending += chunk
        lines = pending.split("\n")
        pending = lines.pop()  # a partial last line waits for its end
        for line in lines:
            rec = to_record(line)
            if rec is None:
                continue
            if function is not None and rec.function != function:
                continue
            if since is not None and rec.time < since:
                continue
            yield rec
        if not follow:
            if pending.strip():
                rec = to_record(pending)
                if rec is not None and (function is None or rec.function == function):
                    yield rec
            return
        time.sleep(FOLLOW_POLL)
