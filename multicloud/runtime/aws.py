"""AWS Lambda entry shim: one Lambda handler for every trigger the AWS target wires up.

`entry("app.handler", "orders")` returns the function Lambda calls (`style=` for Lambda handlers and
WSGI/ASGI apps: see `multicloud.runtime.lambda_style` and docs/runtime.md). It recognises the payload shape:
Function URL / API Gateway HTTP API (payload 2.0), API Gateway REST (1.0 proxy), ALB, S3, SQS, Kinesis,
EventBridge scheduled events (and the `multicloud.schedule` payload for EventBridge Scheduler), and
treats anything else as a direct invocation. Partial batch failure maps to `batchItemFailures`, which
needs `FunctionResponseTypes: [ReportBatchItemFailures]` on the event source mapping.
"""

from __future__ import annotations

import binascii
import os

from multicloud.runtime.context import Context, Logger
from multicloud.runtime.events import SCHEDULE_MARKER, Event, Message, ScheduleInfo, StorageObject, parse_time
from multicloud.runtime.http import Headers, HttpRequest, HttpResult, unquote
from multicloud.runtime.invoke import (
    AsyncHandler,
    handle_direct,
    handle_event,
    handle_http,
    load_handler,
    rfc3339,
)
from multicloud.runtime.secrets import resolve_into_environ

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from multicloud.runtime.invoke import Handler

    LambdaHandler = Callable[[dict[str, object], object], object]

TARGET = "aws"


def _b64decode(text: str) -> bytes:
    return binascii.a2b_base64(text) if text else b""


def _b64encode(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def _body(event: dict) -> bytes:  # type: ignore[type-arg]
    body = event.get("body")
    if not body:
        return b""
    return _b64decode(body) if event.get("isBase64Encoded") else str(body).encode("utf-8")


def _encoded_body(result: HttpResult) -> tuple[str, bool]:
    if not result.body:
        return "", False
    if result.is_text:
        try:
            return result.body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return _b64encode(result.body), True


# ---- HTTP: API Gateway HTTP API / Function URL (2.0) ------------------------------------------------


def _request_v2(event: dict) -> HttpRequest:  # type: ignore[type-arg]
    http = event["requestContext"]["http"]
    cookies = event.get("cookies") or []
    source_ip = http.get("sourceIp") or ""
    headers = Headers(event.get("headers") or {})
    if cookies and "cookie" not in headers:  # payload 2.0 moved the Cookie header into `cookies`: put it back
        headers.add("cookie", "; ".join(cookies))
    return HttpRequest(
        http.get("method", "GET"),
        event.get("rawPath") or http.get("path") or "/",
        path_params=event.get("pathParameters"),
        query=event.get("rawQueryString") or "",
        headers=headers,
        cookies=cookies,
        client_ip=source_ip.split("/", 1)[0] or None,
        body=_body(event),
        raw=event,
    )


def _response_v2(result: HttpResult, event: dict) -> dict[str, object]:  # type: ignore[type-arg]
    headers: dict[str, str] = {}
    for name, value in result.headers:
        key = name.lower()
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    body, b64 = _encoded_body(result)
    response: dict[str, object] = {"statusCode": result.status, "headers": headers, "body": body,
                                   "isBase64Encoded": b64}
    if result.cookies:
        response["cookies"] = result.cookies
    return response


# ---- HTTP: API Gateway REST (1.0 proxy) and ALB ---------------------------------------------------------


def _multi_headers(event: dict) -> Headers:  # type: ignore[type-arg]
    multi = event.get("multiValueHeaders")
    if multi:
        return Headers([(k, v) for k, values in multi.items() for v in values or ()])
    return Headers(event.get("headers") or {})


def _request_v1(event: dict, alb: bool) -> HttpRequest:  # type: ignore[type-arg]
    multi = event.get("multiValueQueryStringParameters")
    single = event.get("queryStringParameters") or {}
    query: dict[str, list[str]] = dict(multi) if multi else {k: [v] for k, v in single.items()}
    headers = _multi_headers(event)
    if alb:  # ALB passes the query string as received: still percent-encoded
        decoded: dict[str, list[str]] = {}
        for k, values in query.items():
            decoded.setdefault(unquote(k, True), []).extend(unquote(v, True) for v in values)
        query = decoded
        forwarded = headers.get("x-forwarded-for") or ""
        client_ip = forwarded.split(",")[0].strip() or None
    else:
        client_ip = (event.get("requestContext") or {}).get("identity", {}).get("sourceIp")
    return HttpRequest(
        event.get("httpMethod") or "GET",
        event.get("path") or "/",
        path_params=event.get("pathParameters"),
        query=query,
        headers=headers,
        client_ip=client_ip,
        body=_body(event),
        raw=event,
    )


def _case_variants(name: str, count: int) -> list[str]:
    """`Set-Cookie`, `set-Cookie`, `Set-cookie`...: distinct keys for a single-value header map."""
    variants: list[str] = []
    letters = [i for i, c in enumerate(name) if c.isalpha()]
    for n in range(1 << len(letters)):
        chars = list(name.lower())
        for bit, pos in enumerate(letters):
            if not n >> bit & 1:
                chars[pos] = chars[pos].upper()
        variants.append("".join(chars))
        if len(variants) == count:
            break
    return variants


def _response_v1(result: HttpResult, event: dict, alb: bool) -> dict[str, object]:  # type: ignore[type-arg]
    body, b64 = _encoded_body(result)
    response: dict[str, object] = {"statusCode": result.status, "body": body, "isBase64Encoded": b64}
    if alb:
        from http import HTTPStatus

        try:
            phrase = HTTPStatus(result.status).phrase
        except ValueError:
            phrase = ""
        response["statusDescription"] = f"{result.status} {phrase}".strip()
    if not alb or "multiValueHeaders" in event:
        multi: dict[str, list[str]] = {}
        for name, value in result.headers:
            multi.setdefault(name, []).append(value)
        if result.cookies:
            multi["Set-Cookie"] = list(result.cookies)
        response["multiValueHeaders"] = multi
    else:  # ALB without multi-value headers: one value per key
        single: dict[str, str] = {}
        for name, value in result.headers:
            single[name] = f"{single[name]},{value}" if name in single else value
        for key, cookie in zip(_case_variants("set-cookie", len(result.cookies)), result.cookies, strict=False):
            single[key] = cookie
        response["headers"] = single
    return response


# ---- events -------------------------------------------------------------------------------------------


def _storage_event(record: dict, ctx: Context) -> Event | None:  # type: ignore[type-arg]
    name = str(record.get("eventName", ""))
    if name.startswith("ObjectCreated"):
        kind = "created"
    elif name.startswith("ObjectRemoved"):
        kind = "deleted"
    else:
        ctx.logger.warning("ignoring S3 event that is neither a create nor a delete", event_name=name)
        return None
    s3 = record["s3"]
    obj = s3["object"]
    bucket = s3["bucket"]["name"]
    storage = StorageObject(bucket, unquote(obj["key"], True), kind, size=obj.get("size"),
                            etag=obj.get("eTag"), raw=record)
    return Event("storage", id=obj.get("sequencer") or ctx.request_id, source=f"arn:aws:s3:::{bucket}",
                 subject=storage.key, time=record.get("eventTime"), data=record, storage=storage)


def _sqs_message(record: dict) -> Message:  # type: ignore[type-arg]
    attrs = record.get("attributes") or {}
    values = {k: v.get("stringValue") or v.get("binaryValue") or ""
              for k, v in (record.get("messageAttributes") or {}).items()}
    sent = attrs.get("SentTimestamp")
    return Message(
        record["messageId"], str(record.get("body") or "").encode("utf-8"), attributes=values,
        partition_key=attrs.get("MessageGroupId"), sequence=attrs.get("SequenceNumber"),
        time=rfc3339(int(sent) / 1000) if sent else None, raw=record,
    )


def _kinesis_message(record: dict) -> Message:  # type: ignore[type-arg]
    data = record["kinesis"]
    arrival = data.get("approximateArrivalTimestamp")
    return Message(
        record.get("eventID") or data["sequenceNumber"], _b64decode(data.get("data") or ""),
        partition_key=data.get("partitionKey"), sequence=data.get("sequenceNumber"),
        time=rfc3339(float(arrival)) if arrival is not None else None, raw=record,
    )


def _batch(records: list, kind: str, ctx: Context, handler: Handler) -> dict[str, object]:  # type: ignore[type-arg]
    make = _sqs_message if kind == "queue" else _kinesis_message
    messages = [make(r) for r in records]
    source = str(records[0].get("eventSourceARN", "")) if records else ""
    event = Event(kind, id=ctx.request_id, source=source, time=rfc3339(), data=records, messages=messages)
    failed = set(handle_event(handler, event, ctx))
    # Lambda names SQS items by messageId and Kinesis records by sequence number
    ids = [m.id if kind == "queue" else str(m.sequence) for m in messages if m.id in failed]
    return {"batchItemFailures": [{"itemIdentifier": i} for i in ids]}


def _schedule_event(event: dict, ctx: Context) -> Event:  # type: ignore[type-arg]
    marker = event.get(SCHEDULE_MARKER)
    if isinstance(marker, dict):
        name, when = marker.get("name"), marker.get("time")
    else:
        resources = event.get("resources") or [""]
        name, when = str(resources[0]).rpartition("/")[2] or None, event.get("time")
    info = ScheduleInfo(parse_time(when), name)
    return Event("schedule", id=str(event.get("id") or ctx.request_id), source=f"/aws/schedules/{name}",
                 time=info.time.isoformat(), data=event, schedule=info)


# ---- entry --------------------------------------------------------------------------------------------


def lambda_context(function: str, native: object, logger: Logger) -> Context:
    """The portable context of one Lambda invocation (request id, memory and clock from Lambda's)."""
    request_id = getattr(native, "aws_request_id", None) or os.urandom(8).hex()
    memory = getattr(native, "memory_limit_in_mb", None)
    remaining = getattr(native, "get_remaining_time_in_millis", None)
    return Context(function, str(request_id), TARGET, memory_limit_mb=int(memory) if memory else None,
                   remaining=remaining, logger=logger)


def dispatch(handler: Handler, event: object, ctx: Context) -> object:
    """One Lambda payload through the user's handler; returns what Lambda expects back."""
    if isinstance(event, dict):
        request_context = event.get("requestContext")
        if isinstance(request_context, dict):
            if "http" in request_context:
                return _response_v2(handle_http(handler, _request_v2(event), ctx), event)
            if "httpMethod" in event:
                alb = "elb" in request_context
                return _response_v1(handle_http(handler, _request_v1(event, alb), ctx), event, alb)
        records = event.get("Records")
        if isinstance(records, list) and records and isinstance(records[0], dict):
            source = records[0].get("eventSource")
            if source == "aws:sqs":
                return _batch(records, "queue", ctx, handler)
            if source == "aws:kinesis":
                return _batch(records, "stream", ctx, handler)
            if source == "aws:s3":
                for record in records:
                    storage = _storage_event(record, ctx)
                    if storage is not None:
                        handle_event(handler, storage, ctx)
                return None
        if event.get("detail-type") == "Scheduled Event" or SCHEDULE_MARKER in event:
            handle_event(handler, _schedule_event(event, ctx), ctx)
            return None
    direct = Event("direct", id=ctx.request_id, source=f"/aws/{ctx.function_name}", time=rfc3339(),
                   datacontenttype="application/json", data=event)
    return handle_direct(handler, direct, ctx)


def entry(handler: str, function: str, *, style: str = "portable", http_payload: str = "2.0",
          routes: tuple[str, ...] = ()) -> LambdaHandler:
    """Resolve secrets, import the user's handler (cold start) and return the Lambda handler.

    `style="aws"`: the handler is a Lambda handler already and gets the native event (see
    `multicloud.runtime.lambda_style.native`); wsgi and asgi apps are served through the portable path."""
    resolve_into_environ()
    if style == "aws":
        from multicloud.runtime.lambda_style import native
        from multicloud.runtime.styles import refuse_async_lambda

        lambda_fn = load_handler(handler)
        if isinstance(lambda_fn, AsyncHandler):
            refuse_async_lambda(lambda_fn.func, handler)
        return native(lambda_fn, http_payload, routes)  # type: ignore[arg-type]
    user = load_handler(handler, style=style)  # an `async def` one runs on the background loop (AsyncHandler)
    logger = Logger()

    def lambda_handler(event: dict[str, object], context: object) -> object:
        return dispatch(user, event, lambda_context(function, context, logger))

    return lambda_handler
