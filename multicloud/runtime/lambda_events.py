"""The Lambda events each trigger would have produced on AWS, built from the portable model.

Used by the `aws` handler style (`multicloud.runtime.lambda_style`) wherever the function does not run on
Lambda: the private runtime, Azure and GCP shims turn their platform's request or event into the portable
`Event` first, and these builders turn that into the payload a Lambda handler was written for. Shapes
follow the sample events shipped with aws-sam-cli (`tests/events/aws`) and AWS's documented formats:

* HTTP payload 2.0 (Function URL / HTTP API): lower-case `headers` (repeats joined with commas), the
  Cookie header moved to `cookies`, `rawQueryString` as received, `queryStringParameters` comma-joined,
  optional keys left out when empty, `body` base64 unless the content type is text;
* HTTP payload 1.0 (REST API proxy, HTTP API 1.0): `headers` (last value) and `multiValueHeaders`,
  `queryStringParameters` / `multiValueQueryStringParameters` (decoded), absent keys as null;
* SQS and Kinesis `Records`, S3 `Records` (key URL-encoded as S3 does), an EventBridge `Scheduled Event`.

ARNs name the region from `AWS_REGION` (else us-east-1) and the documentation account 123456789012.
Stdlib only, imported only by functions that use the aws style.
"""

from __future__ import annotations

import binascii
import hashlib
import os
import time

from multicloud.runtime.http import is_text_type

TYPE_CHECKING = False
if TYPE_CHECKING:
    from multicloud.runtime.context import Context
    from multicloud.runtime.events import Message, ScheduleInfo, StorageObject
    from multicloud.runtime.http import HttpRequest

ACCOUNT = "123456789012"  # the account of AWS's documentation and of aws-sam-cli's sample events
SHARD = "shardId-000000000000"
PATH_SAFE = "/!$&'()*+,;=:@-._~"  # characters a request path carries unencoded


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def encode_body(body: bytes, content_type: str | None) -> tuple[str | None, bool]:
    """(body, isBase64Encoded) as API Gateway and Function URLs pass it: text types as text, else base64."""
    if not body:
        return None, False
    if is_text_type(content_type):
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return _b64(body), True


def raw_path(path: str) -> str:
    """The request path percent-encoded, as a Function URL or REST API delivers it."""
    from urllib.parse import quote, unquote

    return quote(unquote(path), safe=PATH_SAFE)


def _request_times(now: float) -> tuple[str, int]:
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)), int(now * 1000)


def _domain(request: HttpRequest) -> str:
    return (request.headers.get("host") or "localhost").split(",")[0].strip()


def resource_of(path: str, params: dict[str, str], route: str | None) -> str:
    """The route template (`/orders/{id}`): the spec's route when known, else the path with each segment
    that equals a parameter's value put back as `{name}`."""
    if route:
        return route
    by_value = {value: name for name, value in params.items()}
    return "/".join("{" + by_value[seg] + "}" if seg in by_value else seg for seg in path.split("/"))


def http_v2(request: HttpRequest, ctx: Context, *, route: str | None = None) -> dict[str, object]:
    """Payload format 2.0, as a Function URL (`routeKey: $default`) or an HTTP API route delivers it."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers.items():
        key = name.lower()
        if key == "cookie":
            cookies += [c.strip() for c in value.split(";") if c.strip()]
            continue
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    now = time.time()
    when, epoch = _request_times(now)
    domain = _domain(request)
    path = raw_path(request.path)
    route_key = f"{request.method} {route}" if route else "$default"
    body, b64 = encode_body(request.body, request.headers.get("content-type"))
    event: dict[str, object] = {"version": "2.0", "routeKey": route_key, "rawPath": path,
                                "rawQueryString": request.query_string}
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if request.query:
        event["queryStringParameters"] = {k: ",".join(v) for k, v in request.query.items()}
    event["requestContext"] = {
        "accountId": ACCOUNT, "apiId": domain.split(".")[0], "domainName": domain,
        "domainPrefix": domain.split(".")[0],
        "http": {"method": request.method, "path": path, "protocol": "HTTP/1.1",
                 "sourceIp": request.client_ip or "127.0.0.1", "userAgent": headers.get("user-agent", "")},
        "requestId": ctx.request_id, "routeKey": route_key, "stage": "$default", "time": when, "timeEpoch": epoch,
    }
    if request.path_params:
        event["pathParameters"] = dict(request.path_params)
    if body is not None:
        event["body"] = body
    event["isBase64Encoded"] = b64
    return event


def http_v1(request: HttpRequest, ctx: Context, *, route: str | None = None) -> dict[str, object]:
    """Payload format 1.0, as an API Gateway REST API proxy integration (or an HTTP API 1.0) delivers it."""
    multi: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        multi.setdefault(name, []).append(value)
    query = request.query
    now = time.time()
    when, epoch = _request_times(now)
    domain = _domain(request)
    path = raw_path(request.path)
    resource = resource_of(path, request.path_params, route)
    body, b64 = encode_body(request.body, request.headers.get("content-type"))
    user_agent = request.headers.get("user-agent")
    identity = dict.fromkeys(("cognitoIdentityPoolId", "accountId", "cognitoIdentityId", "caller", "accessKey",
                              "cognitoAuthenticationType", "cognitoAuthenticationProvider", "userArn", "user"))
    identity.update(sourceIp=request.client_ip or "127.0.0.1", userAgent=user_agent)
    return {
        "resource": resource, "path": path, "httpMethod": request.method,
        "headers": {k: v[-1] for k, v in multi.items()} if multi else None,
        "multiValueHeaders": multi or None,
        "queryStringParameters": {k: v[-1] for k, v in query.items()} if query else None,
        "multiValueQueryStringParameters": {k: list(v) for k, v in query.items()} if query else None,
        "pathParameters": dict(request.path_params) if request.path_params else None,
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT, "apiId": domain.split(".")[0], "domainName": domain,
            "domainPrefix": domain.split(".")[0], "extendedRequestId": ctx.request_id,
            "httpMethod": request.method, "identity": identity, "path": path, "protocol": "HTTP/1.1",
            "requestId": ctx.request_id, "requestTime": when, "requestTimeEpoch": epoch,
            "resourceId": "multicloud", "resourcePath": resource, "stage": "$default",
        },
        "body": body, "isBase64Encoded": b64,
    }


def _source_name(source: str) -> str:
    """The queue, topic or stream name at the end of an event source (`//pubsub.../topics/orders` -> orders)."""
    return source.rstrip("/").rpartition("/")[2].rpartition(":")[2] or "queue"


def _epoch_ms(text: str | None, default: float) -> int:
    if text:
        from multicloud.runtime.events import parse_time

        return int(parse_time(text).timestamp() * 1000)
    return int(default * 1000)


def sqs_records(messages: list[Message], source: str) -> list[dict[str, object]]:
    """One SQS record per message; `messageId` is the message's id (what batchItemFailures names)."""
    reg = region()
    arn = source if source.startswith("arn:aws:sqs:") else f"arn:aws:sqs:{reg}:{ACCOUNT}:{_source_name(source)}"
    now = time.time()
    records: list[dict[str, object]] = []
    for message in messages:
        attributes = dict(message.attributes)
        received = attributes.pop("dequeue_count", None) or "1"  # Azure's count is SQS's receive count
        sent = _epoch_ms(message.time, now)
        system: dict[str, str] = {"ApproximateReceiveCount": str(received), "SentTimestamp": str(sent),
                                  "SenderId": ACCOUNT, "ApproximateFirstReceiveTimestamp": str(sent)}
        if message.partition_key:
            system["MessageGroupId"] = message.partition_key
        if message.sequence:
            system["SequenceNumber"] = message.sequence
        records.append({
            "messageId": message.id,
            "receiptHandle": _b64(f"{message.id}:{sent}".encode()),
            "body": message.body.decode("utf-8", "replace"),
            "attributes": system,
            "messageAttributes": {k: {"stringValue": v, "stringListValues": [], "binaryListValues": [],
                                      "dataType": "String"} for k, v in attributes.items()},
            "md5OfBody": hashlib.md5(message.body, usedforsecurity=False).hexdigest(),
            "eventSource": "aws:sqs", "eventSourceARN": arn, "awsRegion": reg,
        })
    return records


def kinesis_records(messages: list[Message], source: str) -> tuple[list[dict[str, object]], dict[str, str]]:
    """Kinesis records and {sequenceNumber: message id} (batchItemFailures names sequence numbers)."""
    reg = region()
    arn = source if source.startswith("arn:aws:kinesis:") else \
        f"arn:aws:kinesis:{reg}:{ACCOUNT}:stream/{_source_name(source)}"
    now = time.time()
    records: list[dict[str, object]] = []
    ids: dict[str, str] = {}
    for message in messages:
        sequence = message.sequence or message.id
        ids[sequence] = message.id
        records.append({
            "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": message.partition_key or "",
                        "sequenceNumber": sequence, "data": _b64(message.body),
                        "approximateArrivalTimestamp": _epoch_ms(message.time, now) / 1000},
            "eventSource": "aws:kinesis", "eventVersion": "1.0", "eventID": f"{SHARD}:{sequence}",
            "eventName": "aws:kinesis:record", "invokeIdentityArn": f"arn:aws:iam::{ACCOUNT}:role/multicloud",
            "awsRegion": reg, "eventSourceARN": arn,
        })
    return records, ids


def s3_record(obj: StorageObject, event_id: str, event_time: str | None) -> dict[str, object]:
    """The S3 notification record for one created or deleted object (key URL-encoded, `+` for spaces)."""
    from urllib.parse import quote_plus

    from multicloud.runtime.events import parse_time

    when = parse_time(event_time)
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    created = obj.kind == "created"
    record_object: dict[str, object] = {"key": quote_plus(obj.key, safe="/"), "sequencer": event_id[:32] or "0"}
    if created:
        record_object.update(size=obj.size if obj.size is not None else 0, eTag=(obj.etag or "").strip('"'))
    return {
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": region(), "eventTime": stamp,
        "eventName": "ObjectCreated:Put" if created else "ObjectRemoved:Delete",
        "userIdentity": {"principalId": "multicloud"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": event_id[:16], "x-amz-id-2": event_id},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "multicloud",
               "bucket": {"name": obj.bucket, "ownerIdentity": {"principalId": "multicloud"},
                          "arn": f"arn:aws:s3:::{obj.bucket}"},
               "object": record_object},
    }


def scheduled_event(schedule: ScheduleInfo, event_id: str) -> dict[str, object]:
    """An EventBridge `Scheduled Event` for one firing (the rule is named after the schedule)."""
    reg = region()
    name = "".join(c if c.isalnum() or c in "-_." else "-" for c in (schedule.name or "schedule")).strip("-")
    return {
        "version": "0", "id": event_id, "detail-type": "Scheduled Event", "source": "aws.events",
        "account": ACCOUNT, "time": schedule.time.strftime("%Y-%m-%dT%H:%M:%SZ"), "region": reg,
        "resources": [f"arn:aws:events:{reg}:{ACCOUNT}:rule/{name or 'schedule'}"], "detail": {},
    }
