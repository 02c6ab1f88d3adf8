"""The `aws` handler style: a Lambda handler `handler(event, context)` that runs unchanged on every target.

On Lambda the AWS shim gives the handler the native event and Lambda's own context (`native`); the only
change is for HTTP: a function that declares payload 1.0 behind a Function URL (which always sends 2.0)
gets the 1.0 event built from it, and a route's `pathParameters` are filled in when the platform's
`$default` route sent none. Everywhere else `AwsStyle` is the portable handler the shims and the private
runtime call: it builds the Lambda event the trigger would have produced on AWS (`lambda_events`), calls
the user's handler with a `LambdaContext`, and maps what it returns the way AWS would:

* HTTP 2.0: a dict with `statusCode` is a response (`headers`, `cookies`, `body`, `isBase64Encoded`);
  any other value is a 200 `application/json` body holding that value as JSON;
* HTTP 1.0: `statusCode`, `headers` and `multiValueHeaders`, `body`, `isBase64Encoded`; no `statusCode`
  is a malformed proxy response: 502, as API Gateway answers;
* SQS and Kinesis: `{"batchItemFailures": [{"itemIdentifier": ...}]}` -> only those messages are retried
  (an identifier that is not in the batch fails the whole batch, as on Lambda); an exception retries all;
* S3 and schedules: the return value is ignored; a direct invocation returns it to the caller as is.
"""

from __future__ import annotations

import os
import sys
import time

from multicloud.runtime import lambda_events
from multicloud.runtime.apps import split_cookies
from multicloud.runtime.events import BatchResult, Event
from multicloud.runtime.http import HttpRequest, HttpResult, match_route

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from multicloud.runtime.context import Context

    LambdaHandler = Callable[[object, object], object]

NO_DEADLINE_MS = 900_000  # a target without a time limit reports Lambda's longest timeout


class CognitoIdentity:
    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self) -> None:
        self.cognito_identity_id: str | None = None
        self.cognito_identity_pool_id: str | None = None


class LambdaContext:
    """What Lambda's Python runtime (awslambdaric's `LambdaContext`) passes as `context`, built from the
    portable context. Like the real one, `memory_limit_in_mb` is a string."""

    def __init__(self, ctx: Context) -> None:
        name = ctx.function_name
        self.function_name = name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{lambda_events.region()}:{lambda_events.ACCOUNT}:function:{name}"
        self.memory_limit_in_mb = str(ctx.memory_limit_mb or 128)
        self.aws_request_id = ctx.request_id
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = time.strftime("%Y/%m/%d/[$LATEST]", time.gmtime()) + ctx.request_id[:32]
        self.identity = CognitoIdentity()
        self.client_context = None
        self.tenant_id = None
        self._ctx = ctx

    def get_remaining_time_in_millis(self) -> int:
        remaining = self._ctx.remaining_time_ms()
        return NO_DEADLINE_MS if remaining is None else remaining

    def log(self, msg: object) -> None:
        sys.stdout.write(str(msg))

    def w3c(self) -> dict[str, str]:
        """W3C trace context of the invocation: Lambda fills it from the caller's; nothing here to pass on."""
        return {}

    def __repr__(self) -> str:
        return f"LambdaContext(function_name={self.function_name}, aws_request_id={self.aws_request_id})"


# ---- results -------------------------------------------------------------------------------------------


def _decode_body(response: dict[str, object]) -> bytes:
    body = response.get("body")
    if body is None or body == "":
        return b""
    if response.get("isBase64Encoded"):
        import binascii

        return binascii.a2b_base64(str(body))
    return body.encode("utf-8") if isinstance(body, str) else _json(body)


def _json(value: object) -> bytes:
    import json

    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def http_result(value: object, payload: str) -> HttpResult:
    """A Lambda HTTP response (payload 2.0 or 1.0) -> the HTTP answer API Gateway would give."""
    if not (isinstance(value, dict) and "statusCode" in value):
        if payload == "1.0":
            return HttpResult(502, [("Content-Type", "application/json")], b'{"message":"Internal server error"}')
        return HttpResult(200, [("Content-Type", "application/json")], _json(value))
    headers: list[tuple[str, str]] = [(str(k), str(v)) for k, v in (value.get("headers") or {}).items()]
    if payload == "1.0":
        for name, values in (value.get("multiValueHeaders") or {}).items():
            known = {k.lower() for k, _ in headers}
            items = [(str(name), str(v)) for v in values or ()]
            if name.lower() in known:  # a header in both maps: API Gateway sends the multi-value ones
                headers = [(k, v) for k, v in headers if k.lower() != name.lower()]
            headers += items
    headers, cookies = split_cookies(headers)
    if payload == "2.0":
        cookies += [str(c) for c in value.get("cookies") or ()]
    body = _decode_body(value)
    if body and not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return HttpResult(int(str(value["statusCode"])), headers, body, cookies)


def failed_ids(value: object, ids: dict[str, str]) -> list[str]:
    """`batchItemFailures` -> the message ids to retry; `ids` maps each itemIdentifier Lambda would accept."""
    if not isinstance(value, dict) or not value.get("batchItemFailures"):
        return []
    failures = value["batchItemFailures"]
    out: list[str] = []
    for item in failures if isinstance(failures, list) else [failures]:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not identifier or str(identifier) not in ids:
            # Lambda's rule: an empty or unknown identifier fails the whole batch
            raise ValueError(f"batchItemFailures names {identifier!r}, which is not in this batch; "
                             "the whole batch is retried")
        out.append(ids[str(identifier)])
    return out


# ---- the adapter ------------------------------------------------------------------------------------------


class AwsStyle:
    """A Lambda handler as a portable handler: `AwsStyle(fn, "2.0", routes)(event, ctx)`."""

    __slots__ = ("fn", "payload", "routes")

    def __init__(self, fn: LambdaHandler, payload: str = "2.0", routes: Sequence[str] = ()) -> None:
        self.fn = fn
        self.payload = payload
        self.routes = tuple(routes)

    def route(self, request: HttpRequest) -> str | None:
        """The spec route this request matched; fills `path_params` when the platform gave none."""
        for route in self.routes:
            params = match_route(route, request.path)
            if params is not None:
                if not request.path_params:
                    request.path_params = params
                return route
        return None

    def __call__(self, event: Event, ctx: Context) -> object:
        return self.handle(event, ctx, LambdaContext(ctx))

    def handle(self, event: Event, ctx: Context, context: object) -> object:
        """The Lambda event for `event`, the user's handler, its answer mapped back."""
        kind = event.kind
        if kind == "http":
            request = event.http
            route = self.route(request)
            build = lambda_events.http_v1 if self.payload == "1.0" else lambda_events.http_v2
            return http_result(self.fn(build(request, ctx, route=route), context), self.payload)
        if kind == "queue":
            records = lambda_events.sqs_records(event.messages, event.source)
            known = {m.id: m.id for m in event.messages}
            return BatchResult(failed_ids(self.fn({"Records": records}, context), known))
        if kind == "stream":
            records, by_sequence = lambda_events.kinesis_records(event.messages, event.source)
            return BatchResult(failed_ids(self.fn({"Records": records}, context), by_sequence))
        if kind == "storage":
            record = lambda_events.s3_record(event.storage, event.id, event.time)
            self.fn({"Records": [record]}, context)
            return None
        if kind == "schedule":
            self.fn(lambda_events.scheduled_event(event.schedule, event.id), context)
            return None
        return self.fn(event.data, context)


# ---- on Lambda itself ----------------------------------------------------------------------------------


def _http_format(event: object) -> str | None:
    if not isinstance(event, dict) or not isinstance(event.get("requestContext"), dict):
        return None
    if "http" in event["requestContext"]:
        return "2.0"
    return "1.0" if "httpMethod" in event else None


def native(fn: LambdaHandler, payload: str = "2.0", routes: Sequence[str] = ()) -> LambdaHandler:
    """The Lambda handler for an aws-style function on Lambda: the native event, untouched, whenever it
    has the HTTP payload format the function declares (and for every non-HTTP event)."""
    adapter = AwsStyle(fn, payload, routes)

    def lambda_handler(event: object, context: object) -> object:
        got = _http_format(event)
        if got is None:
            return fn(event, context)
        if got == payload:
            _fill_path_parameters(adapter, event)  # type: ignore[arg-type]
            return fn(event, context)
        return _convert(adapter, event, context)  # type: ignore[arg-type]

    return lambda_handler


def _fill_path_parameters(adapter: AwsStyle, event: dict[str, object]) -> None:
    """A Function URL or `$default` route sends no pathParameters; the spec's route knows them."""
    if event.get("pathParameters") or not adapter.routes:
        return
    path = event.get("rawPath") or event.get("path") or "/"
    request = HttpRequest("GET", str(path))
    adapter.route(request)
    if request.path_params:
        event["pathParameters"] = request.path_params


def _convert(adapter: AwsStyle, event: dict[str, object], context: object) -> object:
    """An HTTP event of the other payload format: through the portable model into the declared one, and the
    handler's answer back into the format the caller (Function URL, API Gateway, ALB) expects. The handler
    still gets Lambda's own context."""
    from multicloud.runtime import aws
    from multicloud.runtime.context import Logger

    name = str(getattr(context, "function_name", None) or os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or "function")
    ctx = aws.lambda_context(name, context, Logger())
    return aws.dispatch(lambda portable, c: adapter.handle(portable, c, context), event, ctx)
