"""Helpers for unit-testing a handler without any cloud: build portable events and a context, call it.

    from multicloud.runtime.testing import http_event, make_context, run
    assert handler.main(http_event("GET", "/hello", query={"name": ["Ada"]}), make_context("hello")) == ...
    assert run(handler.main, http_event("GET", "/hello")) == ...     # `def` or `async def` alike
"""

from __future__ import annotations

import json as _json
import uuid
from collections.abc import Callable
from datetime import datetime, timezone

from multicloud.runtime.context import Context
from multicloud.runtime.events import Event, Message, ScheduleInfo, StorageObject
from multicloud.runtime.http import Headers, HttpRequest

__all__ = ["http_event", "make_context", "queue_event", "run", "schedule_event", "storage_event"]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def http_event(
    method: str = "GET",
    path: str = "/",
    *,
    query: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
    body: bytes | str = b"",
    json: object = None,
    path_params: dict[str, str] | None = None,
) -> Event:
    hdrs = Headers(headers or {})
    if json is not None:
        body = _json.dumps(json)
        if "content-type" not in hdrs:
            hdrs.add("content-type", "application/json")
    raw = body.encode() if isinstance(body, str) else body
    request = HttpRequest(method, path, path_params=path_params, query=query or {}, headers=hdrs,
                          client_ip="127.0.0.1", body=raw)
    return Event("http", id=str(uuid.uuid4()), source="test", subject=path, time=_now(), http=request)


def queue_event(*bodies: bytes | str | object, kind: str = "queue", source: str = "test-queue") -> Event:
    messages = []
    for index, item in enumerate(bodies):
        data = item if isinstance(item, bytes) else (item.encode() if isinstance(item, str) else
                                                     _json.dumps(item).encode())
        messages.append(Message(id=str(index + 1), body=data))
    return Event(kind, id=str(uuid.uuid4()), source=source, time=_now(), messages=messages)


def storage_event(bucket: str, key: str, *, kind: str = "created", size: int | None = None) -> Event:
    obj = StorageObject(bucket=bucket, key=key, kind=kind, size=size)
    return Event("storage", id=str(uuid.uuid4()), source=f"test-storage/{bucket}", subject=key, time=_now(),
                 storage=obj)


def schedule_event(when: datetime | None = None) -> Event:
    at = when or datetime.now(timezone.utc)
    return Event("schedule", id=str(uuid.uuid4()), source="test-schedule", time=at.isoformat(),
                 schedule=ScheduleInfo(at))


def make_context(function: str = "test", *, target: str = "test", timeout_ms: int = 30_000) -> Context:
    return Context(function, str(uuid.uuid4()), target, memory_limit_mb=256, timeout_ms=timeout_ms)


def run(handler: Callable[[Event, Context], object], event: Event, context: Context | None = None) -> object:
    """Call a portable handler as the shims do and return what it returned (exceptions propagate).

    An `async def` handler runs to its end on the process's one background loop, the loop the clouds' shims
    use, so a client session it keeps in a global survives from one call (one test) to the next as on a
    warm instance; it is cancelled at the context's deadline (`make_context(timeout_ms=...)`: raises
    `multicloud.runtime.invoke.HandlerTimeout`). A `def` handler is simply called."""
    from multicloud.runtime.invoke import AsyncHandler, is_async

    if is_async(handler):
        handler = AsyncHandler(handler)  # type: ignore[arg-type]
    return handler(event, context if context is not None else make_context())
