"""Handlers served by the runtime under test (a real service: the server imports this file)."""

from __future__ import annotations

import os
import time

from multicloud import BatchResult, Response


def hello(event, context):
    http = event.http
    return {"hello": http.path_params.get("name", "world"), "query": http.query, "method": http.method,
            "request_id": context.request_id}


def echo(event, context):
    http = event.http
    return Response(201, {"X-Echo-Len": str(len(http.body))}, http.body, cookies=["seen=1; Path=/"])


def framing(event, context):
    """Headers a handler may not send (framing, control characters, a bad name) beside one it may."""
    return Response(200, [("X-Ok", "fine"), ("X-Ctl", "a\x01b"), ("X-Del", "a\x7fb"), ("X-Split", "a\r\nInjected: 1"),
                          ("Content-Length", "999"), ("Connection", "close"), ("Transfer-Encoding", "chunked"),
                          ("Bad Name", "x")], b"body")


def slow(event, context):
    time.sleep(float(event.http.query_value("s", "2")))
    return {"slept": True, "remaining_ms": context.remaining_time_ms()}


def secret(event, context):
    return {"has_secret": os.environ.get("API_TOKEN") == "tok-123", "greeting": os.environ.get("GREETING")}


def boom(event, context):
    raise RuntimeError("kaboom secret-detail")


def on_event(event, context):
    if event.kind in ("queue", "stream"):
        failed = [m.id for m in event.messages if m.text == "bad"]
        return BatchResult(failed=failed)
    if event.kind == "storage":
        if event.storage.key == "raise":
            raise ValueError("cannot process")
        return None
    if event.kind == "direct":
        data = event.data.hex() if isinstance(event.data, bytes) else event.data
        return {"direct": data, "type": event.type}
    return None


def tick(event, context):
    path = os.environ["TICK_FILE"]
    with open(path, "a") as fh:
        fh.write(f"{event.kind} {event.schedule.name} {event.schedule.time.isoformat()}\n")


def slow_tick(event, context):
    time.sleep(0.5)


def exits(event, context):
    import sys

    sys.exit(int(event.http.query_value("code", "3")))  # a handler that "exits": the server must keep serving


def interrupt(event, context):
    raise KeyboardInterrupt  # any BaseException a handler lets out


def big(event, context):
    return b"x" * int(event.http.query_value("n", "1000"))
