"""Azure Functions (Python v2 programming model) entry shim.

The rendered `function_app.py` builds one `AzureShim("app.handler", "orders")` (`style=` for Lambda
handlers and WSGI/ASGI apps, see `multicloud.runtime.styles`) and binds its methods to
the triggers: `http`, `eventhub` (cardinality one or many), `timer`, `blob`, `queue`. `azure.functions`
is imported only inside `http` (to build the `HttpResponse`); the other methods read the objects the
worker hands over. Each method takes an optional `context` (`func.Context`) for the invocation id.

Partial failure: Event Hubs and Storage queues cannot retry single items of a batch, so a
`BatchResult` with failures raises `BatchFailure`: the queue message goes back (and to the poison
queue after maxDequeueCount); an Event Hubs batch is retried whole when the function has a retry
policy, otherwise the host checkpoints past it.
"""

from __future__ import annotations

import os

from multicloud.runtime.context import Context, Logger
from multicloud.runtime.events import Event, Message, ScheduleInfo, StorageObject, parse_time
from multicloud.runtime.http import Headers, HttpRequest
from multicloud.runtime.invoke import BatchFailure, handle_event, handle_http, load_handler, rfc3339
from multicloud.runtime.secrets import resolve_into_environ

TARGET = "azure"


def _client_ip(forwarded: str | None) -> str | None:
    """First X-Forwarded-For entry without the port Azure appends (`1.2.3.4:5678`, `[::1]:5678`)."""
    if not forwarded:
        return None
    first = forwarded.split(",")[0].strip()
    if first.startswith("["):
        return first[1:].split("]", 1)[0]
    if first.count(":") == 1:
        return first.split(":", 1)[0]
    return first or None


def _path_and_query(url: str) -> tuple[str, str]:
    rest = url.split("://", 1)[-1].split("#", 1)[0]
    before, _, query = rest.partition("?")
    return ("/" + before.split("/", 1)[1] if "/" in before else "/"), query


class AzureShim:
    """One instance per function; its methods are the trigger entry points."""

    def __init__(self, handler: str, function: str, *, style: str = "portable", http_payload: str = "2.0",
                 routes: tuple[str, ...] = ()) -> None:
        resolve_into_environ()
        self.handler = load_handler(handler, style=style, http_payload=http_payload, routes=routes)
        self.function = function
        self.logger = Logger()
        memory = os.environ.get("MULTICLOUD_MEMORY_MB") or os.environ.get("WEBSITE_MEMORY_LIMIT_MB")
        self.memory_limit_mb = int(memory) if memory and memory.isdigit() else None
        timeout = os.environ.get("MULTICLOUD_TIMEOUT_MS")
        self.timeout_ms = int(timeout) if timeout and timeout.isdigit() else None

    def _context(self, context: object) -> Context:
        request_id = getattr(context, "invocation_id", None) or os.urandom(8).hex()
        return Context(self.function, str(request_id), TARGET, memory_limit_mb=self.memory_limit_mb,
                       timeout_ms=self.timeout_ms, logger=self.logger)

    # ---- HTTP ---------------------------------------------------------------------------------------

    def http(self, req: object, context: object = None) -> object:
        """`func.HttpRequest` -> `func.HttpResponse`; a handler exception is a generic 500."""
        import azure.functions as func

        url = str(getattr(req, "url", "") or "")
        path, raw_query = _path_and_query(url)
        params = getattr(req, "params", None) or {}
        query = raw_query if raw_query else {k: [str(v)] for k, v in params.items()}
        headers = Headers(list((getattr(req, "headers", None) or {}).items()))
        request = HttpRequest(
            str(getattr(req, "method", "GET")),
            path,
            path_params=dict(getattr(req, "route_params", None) or {}),
            query=query,
            headers=headers,
            client_ip=_client_ip(headers.get("x-forwarded-for")),
            body=req.get_body() or b"",  # type: ignore[attr-defined]
            raw=req,
        )
        result = handle_http(self.handler, request, self._context(context))
        content_type = result.header("content-type")
        mimetype, charset = None, None
        if content_type:
            mimetype, _, params_text = content_type.partition(";")
            key, _, value = params_text.strip().partition("=")
            charset = value.strip('"') if key.lower() == "charset" else None
        response = func.HttpResponse(result.body, status_code=result.status, mimetype=mimetype,
                                     charset=charset)
        for name, value in result.headers:
            response.headers.add(name, value)
        for cookie in result.cookies:
            response.headers.add("Set-Cookie", cookie)
        return response

    # ---- events -------------------------------------------------------------------------------------

    def _run(self, event: Event, ctx: Context) -> None:
        failed = handle_event(self.handler, event, ctx)
        if failed:
            raise BatchFailure(failed)

    def eventhub(self, events: object, context: object = None) -> None:
        """One `func.EventHubEvent` (cardinality one) or a list (cardinality many)."""
        batch = events if isinstance(events, list) else [events]
        messages: list[Message] = []
        for index, item in enumerate(batch):
            sequence = getattr(item, "sequence_number", None)
            offset = getattr(item, "offset", None)
            meta = getattr(item, "metadata", None) or {}
            props = meta.get("Properties")
            if not isinstance(props, dict):
                array = meta.get("PropertiesArray")
                props = array[index] if isinstance(array, list) and index < len(array) else None
            enqueued = getattr(item, "enqueued_time", None)
            messages.append(Message(
                str(sequence if sequence is not None else offset if offset is not None else index),
                item.get_body() or b"",  # type: ignore[attr-defined]
                attributes={str(k): str(v) for k, v in (props or {}).items()},
                partition_key=getattr(item, "partition_key", None),
                sequence=str(sequence) if sequence is not None else None,
                time=enqueued.isoformat() if enqueued is not None else None,
                raw=item,
            ))
        ctx = self._context(context)
        self._run(Event("stream", id=ctx.request_id, source=f"/azure/eventhubs/{self.function}",
                        time=rfc3339(), data=None, messages=messages), ctx)

    def queue(self, msg: object, context: object = None) -> None:
        """One `func.QueueMessage` as a batch of one."""
        inserted = getattr(msg, "insertion_time", None)
        dequeue_count = getattr(msg, "dequeue_count", None)
        message = Message(
            str(getattr(msg, "id", None) or os.urandom(8).hex()),
            msg.get_body() or b"",  # type: ignore[attr-defined]
            attributes={"dequeue_count": str(dequeue_count)} if dequeue_count is not None else {},
            time=inserted.isoformat() if inserted is not None else None,
            raw=msg,
        )
        ctx = self._context(context)
        self._run(Event("queue", id=message.id, source=f"/azure/queues/{self.function}", time=rfc3339(),
                        messages=[message]), ctx)

    def timer(self, timer: object, context: object = None) -> None:
        """`func.TimerRequest`: due now; `past_due` tells a late firing."""
        ctx = self._context(context)
        info = ScheduleInfo(parse_time(None), self.function, past_due=bool(getattr(timer, "past_due", False)))
        info.time = info.time.replace(microsecond=0)
        self._run(Event("schedule", id=ctx.request_id, source=f"/azure/schedules/{self.function}",
                        time=info.time.isoformat(), schedule=info), ctx)

    def blob(self, stream: object, context: object = None) -> None:
        """`func.InputStream` of a created or updated blob (the blob trigger never reports deletes)."""
        name = str(getattr(stream, "name", "") or "")
        container, _, key = name.partition("/")
        props = getattr(stream, "blob_properties", None) or {}
        etag = props.get("ETag") or props.get("Etag") or props.get("etag")
        length = getattr(stream, "length", None)
        storage = StorageObject(container, key, "created", size=length if length is not None else None,
                                etag=etag, content_type=props.get("ContentType"), raw=stream)
        ctx = self._context(context)
        self._run(Event("storage", id=ctx.request_id, source=f"/azure/containers/{container}", subject=key,
                        time=rfc3339(), data=None, storage=storage), ctx)
