"""`multicloud invoke --target docker`: a real HTTP request to the deployed endpoint (through the gateway).

HTTP triggers call the function's route; other triggers POST a structured CloudEvent to
`/_events/<function>`, which is how the private runtime receives queue, stream, storage and schedule
events. The key for `auth: key` routes is resolved from the same host-side reference deploy used.
"""

from __future__ import annotations

import http.client
import json
import re
import time
import uuid
from urllib.parse import urlencode, urlsplit

from multicloud.errors import OperationError
from multicloud.project import Project
from multicloud.provider import InvokeRequest, InvokeResult

from .refs import resolve_host_ref
from .settings import DockerSettings

EVENT_TYPES = {
    "schedule": "io.multicloud.schedule.fired",
    "queue": "io.multicloud.queue.messages",
    "stream": "io.multicloud.stream.records",
    "storage": "io.multicloud.storage.object.created",
    "direct": "io.multicloud.direct",
}


def invoke(project: Project, settings: DockerSettings, url: str, request: InvokeRequest) -> InvokeResult:
    fn = project.function("docker", request.function)
    headers = dict(request.headers)
    if request.trigger == "http":
        routes = fn.triggers_of("http")
        if not routes and request.path is None:
            raise OperationError(f"function {fn.name} has no http trigger", fix="use --trigger direct",
                                 where=f"functions.{fn.name}")
        route = routes[0].http if routes else None
        path = request.path or re.sub(r"\{[^}]+\}", "test", route.path if route else "/")
        if route is not None and route.auth == "key" and not any(k.lower() == "x-multicloud-key" for k in headers):
            headers["X-Multicloud-Key"] = resolve_host_ref(settings.auth_key, "auth key")
        method, body = request.method, request.body
    else:
        path = f"/_events/{fn.name}"
        method = "POST"
        event = request.event
        if event is None or "specversion" not in event:
            event = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "multicloud/invoke",
                     "type": EVENT_TYPES[request.trigger], "data": event or {}}
        body = json.dumps(event).encode()
        headers["Content-Type"] = "application/cloudevents+json"
    if request.query:
        path += "?" + urlencode([(k, v) for k, vs in request.query.items() for v in vs])
    parts = urlsplit(url)
    started = time.perf_counter()
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80,
                                      timeout=fn.timeout + 10)
    try:
        conn.request(method, path, body=body or None, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
    except OSError as exc:
        raise OperationError(f"cannot reach {url}: {exc}", fix="check `multicloud status --target docker`",
                             where=url) from exc
    finally:
        conn.close()
    elapsed = (time.perf_counter() - started) * 1000
    return InvokeResult(fn.name, ok=resp.status < 400, status=resp.status,
                        headers={k: v for k, v in resp.getheaders()}, body=data,
                        error=None if resp.status < 400 else data.decode(errors="replace")[:500],
                        duration_ms=round(elapsed, 2))
