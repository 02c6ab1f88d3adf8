"""Google Cloud Functions (gen2, functions-framework) entry shim.

The rendered `main.py` builds one `GcpShim("app.handler", "orders")` (`style=` for Lambda handlers and
WSGI/ASGI apps, see `multicloud.runtime.styles`) and exposes `shim.http` (signature
type http, gets a `flask.Request`) or `shim.cloud_event` (signature type cloudevent, gets a
`cloudevents.http.CloudEvent`). Nothing from Flask or the CloudEvents SDK is imported: the shim reads
the objects it receives and answers HTTP with a `(body, status, headers)` tuple Flask understands.

Event mapping: Cloud Storage `object.v1.finalized` / `deleted` -> storage; Pub/Sub `messagePublished`
-> a queue batch of one (a `multicloud.schedule` payload from Cloud Scheduler -> schedule); any other
type reaches the handler as a `direct` event with its CloudEvents attributes. Partial failure: a push
delivery carries one message, so a failed id raises `BatchFailure` and Pub/Sub / Eventarc redeliver it.
"""

from __future__ import annotations

import binascii
import json
import os

from multicloud.runtime.context import Context, Logger
from multicloud.runtime.events import SCHEDULE_MARKER, Event, Message, ScheduleInfo, StorageObject, parse_time
from multicloud.runtime.http import Headers, HttpRequest, match_route
from multicloud.runtime.invoke import BatchFailure, handle_direct, handle_event, handle_http, load_handler
from multicloud.runtime.secrets import resolve_into_environ

TARGET = "gcp"
STORAGE_TYPES = {
    "google.cloud.storage.object.v1.finalized": "created",
    "google.cloud.storage.object.v1.deleted": "deleted",
}
PUBSUB_TYPE = "google.cloud.pubsub.topic.v1.messagePublished"
CE_CORE = ("specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema")


class GcpShim:
    """One instance per function. `route` (e.g. `/users/{id}`) fills `path_params` on HTTP."""

    def __init__(self, handler: str, function: str, route: str | None = None, *, style: str = "portable",
                 http_payload: str = "2.0", routes: tuple[str, ...] = ()) -> None:
        resolve_into_environ()
        self.handler = load_handler(handler, style=style, http_payload=http_payload, routes=routes or
                                    ((route,) if route else ()))
        self.function = function
        self.route = route
        self.logger = Logger()
        memory = os.environ.get("MULTICLOUD_MEMORY_MB", "")
        self.memory_limit_mb = int(memory) if memory.isdigit() else None
        timeout = os.environ.get("MULTICLOUD_TIMEOUT_MS", "")
        self.timeout_ms = int(timeout) if timeout.isdigit() else None

    def _context(self, request_id: str | None) -> Context:
        return Context(self.function, request_id or os.urandom(8).hex(), TARGET,
                       memory_limit_mb=self.memory_limit_mb, timeout_ms=self.timeout_ms, logger=self.logger)

    def http(self, request: object) -> tuple[bytes, int, list[tuple[str, str]]]:
        """`flask.Request` -> `(body, status, headers)`; a handler exception is a generic 500."""
        headers = Headers(list(request.headers.items()))  # type: ignore[attr-defined]
        raw_query = bytes(getattr(request, "query_string", b"") or b"").decode("utf-8", "replace")
        path = str(getattr(request, "path", "/") or "/")
        forwarded = headers.get("x-forwarded-for")
        client_ip = forwarded.split(",")[0].strip() if forwarded else getattr(request, "remote_addr", None)
        trace = headers.get("function-execution-id") or (headers.get("x-cloud-trace-context") or "").split("/")[0]
        req = HttpRequest(
            str(getattr(request, "method", "GET")),
            path,
            path_params=(match_route(self.route, path) or {}) if self.route else {},
            query=raw_query,
            headers=headers,
            client_ip=client_ip,
            body=request.get_data(cache=True) or b"",  # type: ignore[attr-defined]
            raw=request,
        )
        result = handle_http(self.handler, req, self._context(trace or None))
        out = list(result.headers) + [("Set-Cookie", c) for c in result.cookies]
        return result.body, result.status, out

    def cloud_event(self, event: object) -> None:
        """A `cloudevents.http.CloudEvent` from Eventarc: Cloud Storage, Pub/Sub or any other type."""
        attrs = dict(event.get_attributes())  # type: ignore[attr-defined]
        data = getattr(event, "data", None)
        if isinstance(data, (bytes, bytearray)) and data[:1] in (b"{", b"["):
            data = json.loads(data)
        ce_type = str(attrs.get("type", ""))
        ce_id = str(attrs.get("id", ""))
        common = {
            "id": ce_id, "source": str(attrs.get("source", "")), "subject": attrs.get("subject"),
            "time": attrs.get("time"), "datacontenttype": attrs.get("datacontenttype"),
            "extensions": {k: v for k, v in attrs.items() if k not in CE_CORE},
        }
        ctx = self._context(ce_id)
        if ce_type in STORAGE_TYPES and isinstance(data, dict):
            size = data.get("size")
            storage = StorageObject(str(data.get("bucket", "")), str(data.get("name", "")), STORAGE_TYPES[ce_type],
                                    size=int(size) if size not in (None, "") else None, etag=data.get("etag"),
                                    content_type=data.get("contentType"), raw=data)
            self._run(Event("storage", data=data, storage=storage, **common), ctx)  # type: ignore[arg-type]
        elif ce_type == PUBSUB_TYPE and isinstance(data, dict):
            self._pubsub(data, common, ctx)
        else:
            handle_direct(self.handler, Event("direct", type=ce_type or None, data=data, **common), ctx)  # type: ignore[arg-type]

    def _pubsub(self, data: dict, common: dict, ctx: Context) -> None:  # type: ignore[type-arg]
        msg = data.get("message") or {}
        body = binascii.a2b_base64(msg["data"]) if msg.get("data") else b""
        message = Message(
            str(msg.get("messageId") or msg.get("message_id") or common["id"]), body,
            attributes={str(k): str(v) for k, v in (msg.get("attributes") or {}).items()},
            partition_key=msg.get("orderingKey") or None, time=msg.get("publishTime"), raw=data,
        )
        if body[:1] == b"{":
            try:
                payload = json.loads(body)
            except ValueError:
                payload = None
            marker = payload.get(SCHEDULE_MARKER) if isinstance(payload, dict) else None
            if isinstance(marker, dict):
                info = ScheduleInfo(parse_time(marker.get("time") or msg.get("publishTime")), marker.get("name"))
                self._run(Event("schedule", data=payload, schedule=info, **common), ctx)
                return
        self._run(Event("queue", data=data, messages=[message], **common), ctx)

    def _run(self, event: Event, ctx: Context) -> None:
        failed = handle_event(self.handler, event, ctx)
        if failed:
            raise BatchFailure(failed)

