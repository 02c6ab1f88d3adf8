"""Invoke a `local` deployment over HTTP: routes for HTTP, generated CloudEvents for the other kinds.

Sample payloads follow the data shapes of docs/private-runtime.md, so `multicloud invoke fn --trigger
queue` exercises exactly what a real event sender would post to `/_events/<function>`.
"""

from __future__ import annotations

import http.client
import json
import time
import uuid
from datetime import datetime, timezone
from urllib.parse import quote, urlencode, urlsplit

from multicloud.errors import UsageError
from multicloud.project import ResolvedFunction
from multicloud.provider import InvokeRequest, InvokeResult
from multicloud.spec import kinds
from multicloud.spec.models import HttpTrigger, QueueTrigger, StorageTrigger, StreamTrigger

KEY_HEADER = "X-Multicloud-Key"
EVENT_TYPES = {
    "queue": "io.multicloud.queue.messages",
    "stream": "io.multicloud.stream.records",
    "storage": "io.multicloud.storage.object.created",
    "schedule": "io.multicloud.schedule.fired",
    "direct": "io.multicloud.direct",
}


def sample_data(fn: ResolvedFunction, kind: str) -> object:
    now = datetime.now(timezone.utc).isoformat()
    if kind in kinds.BATCH:
        trig = fn.triggers_of(kind)
        source = trig[0].config if trig else None
        name = source.name if isinstance(source, (QueueTrigger, StreamTrigger)) else "sample"
        return {"messages": [{"id": "sample-1", "body": json.dumps({"hello": name}), "attributes": {}}]}
    if kind == "storage":
        trig = fn.triggers_of("storage")
        cfg = trig[0].config if trig else None
        bucket = cfg.bucket if isinstance(cfg, StorageTrigger) else "sample-bucket"
        prefix = cfg.prefix if isinstance(cfg, StorageTrigger) else ""
        suffix = cfg.suffix if isinstance(cfg, StorageTrigger) else ""
        return {"bucket": bucket, "key": f"{prefix}sample{suffix or '.txt'}", "size": 5, "content_type": "text/plain"}
    if kind == "schedule":
        return {"time": now, "name": "manual"}
    return {}


def cloudevent(fn: ResolvedFunction, request: InvokeRequest) -> bytes:
    kind = request.trigger
    data = request.event if request.event is not None else sample_data(fn, kind)
    return json.dumps({
        "specversion": "1.0", "id": str(uuid.uuid4()), "source": "/multicloud/invoke", "type": EVENT_TYPES[kind],
        "time": datetime.now(timezone.utc).isoformat(), "datacontenttype": "application/json", "data": data,
    }).encode()


def http_route(fn: ResolvedFunction, request: InvokeRequest) -> tuple[str, bool]:
    """(path, needs key) for an HTTP invocation: the given path or the function's first route."""
    routes = [t.config for t in fn.triggers if isinstance(t.config, HttpTrigger)]
    if not routes:
        raise UsageError(f"function {fn.name} has no http trigger",
                         fix="invoke it with --trigger queue|stream|storage|schedule|direct")
    if request.path is not None:
        from multicloud.runtime.http import match_route

        for route in routes:
            if match_route(route.path, request.path.split("?", 1)[0]) is not None:
                return request.path, route.auth == "key"
        return request.path, any(r.auth == "key" for r in routes)
    route = routes[0]
    if "{" in route.path:
        raise UsageError(f"the route {route.path} of {fn.name} has parameters",
                         fix=f"give the concrete path, e.g. --path {route.path.split('{')[0]}1")
    return route.path, route.auth == "key"


def send(base_url: str, method: str, path: str, headers: dict[str, str], body: bytes,
         function: str, timeout: float) -> InvokeResult:
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    started = time.perf_counter()
    try:
        conn.request(method, path, body=body or None, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
    except (OSError, http.client.HTTPException) as exc:
        return InvokeResult(function, False, error=f"{type(exc).__name__}: {exc}",
                            duration_ms=(time.perf_counter() - started) * 1000)
    finally:
        conn.close()
    took = (time.perf_counter() - started) * 1000
    ok = 200 <= resp.status < 400
    return InvokeResult(function, ok, resp.status, {k.lower(): v for k, v in resp.getheaders()}, data,
                        None if ok else f"HTTP {resp.status}", took)


def with_query(path: str, query: dict[str, list[str]]) -> str:
    if not query:
        return path
    sep = "&" if "?" in path else "?"
    return path + sep + urlencode([(k, v) for k, vs in query.items() for v in vs])


def events_path(function: str) -> str:
    return f"/_events/{quote(function)}"
