"""Calls of a Lambda function, read from the platform's lines in its CloudWatch Logs group.

Lambda writes `START RequestId: <id>`, `END RequestId: <id>` and `REPORT RequestId: <id> Duration: 12.3 ms
... [Status: error|timeout]` around every invocation in the function's log stream (or, with the JSON log
format, `platform.start` / `platform.report` objects). A call failed when its REPORT says so, or when a
line between its START and its END is an error: the Python runtime's `[ERROR]` lines, a `Task timed out`
line, or an ERROR line of multicloud's structured logger (an HTTP handler that raised answers a 500 and
logs one). Lambda records no HTTP status, so `status` stays None here.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

from multicloud.project import Project
from multicloud.provider import Invocation

from .clients import Aws
from .context import is_not_found
from .names import Names
from .settings import AwsSettings

START = re.compile(r"^START RequestId: (\S+)")
END = re.compile(r"^END RequestId: (\S+)")
REPORT = re.compile(r"^REPORT RequestId: (\S+)")
DURATION = re.compile(r"\bDuration: ([0-9.]+) ms")
STATUS = re.compile(r"\bStatus: (\w+)")
MAX_EVENTS = 10_000  # log events read per function and call: the dashboard looks at recent calls only


class _Call:
    __slots__ = ("start", "error", "done")

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.error: str | None = None
        self.done = False


def _error_in(message: str) -> str | None:
    text = message.strip()
    if text.startswith("[ERROR]"):
        return text[7:].strip().split("\n", 1)[0][:200] or "error"
    if "Task timed out after" in text:
        return "timed out"
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return None
        if isinstance(data, dict) and str(data.get("level", "")).upper() in ("ERROR", "CRITICAL"):
            return str(data.get("error_type") or data.get("message") or "error")[:200]
    return None


def _platform_json(message: str) -> dict[str, Any] | None:
    """A JSON-format platform line (`platform.start`, `platform.report`), else None."""
    if not message.startswith('{"') or '"platform.' not in message:
        return None
    try:
        data = json.loads(message)
    except ValueError:
        return None
    return data if isinstance(data, dict) and str(data.get("type", "")).startswith("platform.") else None


def calls_from_events(events: list[dict[str, Any]], function: str) -> list[Invocation]:
    """Invocations from CloudWatch log events (`timestamp`, `message`, `logStreamName`), in time order."""
    calls: dict[str, _Call] = {}
    current: dict[str, str] = {}  # log stream -> the request it is in (one at a time per environment)
    out: list[Invocation] = []
    for ev in sorted(events, key=lambda e: (e["timestamp"], e.get("eventId", ""))):
        when = datetime.fromtimestamp(ev["timestamp"] / 1000, tz=timezone.utc)
        message, stream = str(ev.get("message", "")), str(ev.get("logStreamName", ""))
        platform = _platform_json(message)
        if platform is not None:
            record = platform.get("record") or {}
            request_id = str(record.get("requestId", ""))
            if platform["type"] == "platform.start" and request_id:
                calls[request_id] = _Call(when)
                current[stream] = request_id
            elif platform["type"] == "platform.report" and request_id:
                call = calls.pop(request_id, None) or _Call(when)
                outcome = str(record.get("status", "success"))
                took = (record.get("metrics") or {}).get("durationMs")
                error = call.error or (None if outcome == "success" else str(record.get("errorType") or outcome))
                out.append(Invocation(call.start, function, error is None,
                                      float(took) if isinstance(took, (int, float)) else None,
                                      None, request_id, error))
            continue
        if m := START.match(message):
            calls[m.group(1)] = _Call(when)
            current[stream] = m.group(1)
        elif m := END.match(message):
            current.pop(stream, None)
            if m.group(1) in calls:
                calls[m.group(1)].done = True
        elif m := REPORT.match(message):
            reported = calls.pop(m.group(1), None) or _Call(when)
            duration = DURATION.search(message)
            status = STATUS.search(message)
            error = reported.error or (status.group(1) if status and status.group(1) != "success" else None)
            out.append(Invocation(reported.start, function, error is None,
                                  float(duration.group(1)) if duration else None, None, m.group(1), error))
        elif stream in current and (error := _error_in(message)) is not None:
            running = calls.get(current[stream])
            if running is not None and running.error is None:
                running.error = error
    # a call that ended without a REPORT line (an emulator that writes none) still counts, without latency
    for request_id, call in calls.items():
        if call.done:
            out.append(Invocation(call.start, function, call.error is None, None, None, request_id, call.error))
    out.sort(key=lambda c: c.time)
    return out


def invocations(aws: Aws, project: Project, settings: AwsSettings, function: str | None, since: datetime,
                limit: int) -> list[Invocation]:
    fns = [project.function("aws", function)] if function else project.functions_for("aws")
    client = aws.client("logs")
    out: list[Invocation] = []
    for fn in fns:
        group = Names(project.name, settings.stage, fn.name).log_group
        events: list[dict[str, Any]] = []
        try:
            pages = client.get_paginator("filter_log_events").paginate(
                logGroupName=group, startTime=int(since.timestamp() * 1000))
            for page in pages:
                events += page.get("events", [])
                if len(events) >= MAX_EVENTS:
                    break
        except Exception as exc:
            if not is_not_found(exc):  # no group yet: the function has not run
                raise
        out += calls_from_events(events, fn.name)
    out.sort(key=lambda c: c.time)
    return out[-limit:] if limit > 0 else []
