"""Sample events in the native AWS shapes, for `multicloud invoke` on any trigger kind.

Shapes follow what each service sends to Lambda (and what aws-sam-cli's `sam local generate-event`
renders): Function URL / HTTP API payload 2.0, S3 notification, SQS and Kinesis batches, an EventBridge
scheduled event (the Input multicloud gives Scheduler schedules has the same shape).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import urllib.parse
import uuid
from datetime import datetime, timezone
from typing import Any

from multicloud.project import ResolvedFunction
from multicloud.provider import InvokeRequest


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def http_event(request: InvokeRequest, path: str, region: str) -> dict[str, Any]:
    headers = {k.lower(): v for k, v in request.headers.items()}
    headers.setdefault("host", f"example.lambda-url.{region}.on.aws")
    headers.setdefault("user-agent", "multicloud-invoke")
    cookies = [c.strip() for c in headers.pop("cookie", "").split(";") if c.strip()]
    path, _, inline = path.partition("?")  # `--path '/orders?id=1'` carries its query string
    pairs = urllib.parse.parse_qsl(inline, keep_blank_values=True)
    pairs += [(k, v) for k, vs in request.query.items() for v in vs]
    query = urllib.parse.urlencode(pairs)
    try:
        body, b64 = request.body.decode("utf-8"), False
    except UnicodeDecodeError:
        body, b64 = base64.b64encode(request.body).decode(), True
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous", "apiId": "multicloud", "domainName": headers["host"],
            "domainPrefix": headers["host"].split(".")[0],
            "http": {"method": request.method.upper(), "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": headers["user-agent"]},
            "requestId": str(uuid.uuid4()), "routeKey": "$default", "stage": "$default",
            "time": datetime.now(timezone.utc).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(time.time() * 1000),
        },
        "isBase64Encoded": b64,
    }
    if cookies:
        event["cookies"] = cookies
    if pairs:
        grouped: dict[str, list[str]] = {}
        for k, v in pairs:
            grouped.setdefault(k, []).append(v)
        event["queryStringParameters"] = {k: ",".join(v) for k, v in grouped.items()}
    if request.body:
        event["body"] = body
    return event


def _body(request: InvokeRequest, default: Any) -> str:
    if request.body:
        return request.body.decode("utf-8", "replace")
    return json.dumps(default)


def s3_event(fn: ResolvedFunction, request: InvokeRequest, region: str) -> dict[str, Any]:
    trig = next((t.storage for t in fn.triggers if t.storage is not None), None)
    bucket = trig.bucket if trig else "example-bucket"
    key = (trig.prefix if trig else "") + "sample" + (trig.suffix if trig and trig.suffix else ".json")
    created = not trig or "created" in trig.events
    return {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": region, "eventTime": _now(),
        "eventName": "ObjectCreated:Put" if created else "ObjectRemoved:Delete",
        "userIdentity": {"principalId": "EXAMPLE"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": uuid.uuid4().hex[:16].upper(), "x-amz-id-2": "EXAMPLE"},
        "s3": {
            "s3SchemaVersion": "1.0", "configurationId": "multicloud-invoke",
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": "EXAMPLE"},
                       "arn": f"arn:aws:s3:::{bucket}"},
            "object": {"key": urllib.parse.quote_plus(key), "size": len(request.body),
                       "eTag": hashlib.md5(request.body).hexdigest(), "sequencer": "0A1B2C3D4E5F678901"},
        },
    }]}


def sqs_event(fn: ResolvedFunction, request: InvokeRequest, region: str, account: str) -> dict[str, Any]:
    trig = next((t.queue for t in fn.triggers if t.queue is not None), None)
    name = trig.name if trig else "example-queue"
    body = _body(request, {"hello": "world"})
    return {"Records": [{
        "messageId": str(uuid.uuid4()), "receiptHandle": base64.b64encode(uuid.uuid4().bytes).decode(),
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(int(time.time() * 1000)),
                       "SenderId": "AIDAEXAMPLE", "ApproximateFirstReceiveTimestamp": str(int(time.time() * 1000))},
        "messageAttributes": {}, "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs", "eventSourceARN": f"arn:aws:sqs:{region}:{account}:{name}", "awsRegion": region,
    }]}


def kinesis_event(fn: ResolvedFunction, request: InvokeRequest, region: str, account: str) -> dict[str, Any]:
    trig = next((t.stream for t in fn.triggers if t.stream is not None), None)
    name = trig.name if trig else "example-stream"
    data = request.body or json.dumps({"hello": "world"}).encode()
    seq = "49590338271490256608559692538361571095921575989136588898"
    return {"Records": [{
        "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "1", "sequenceNumber": seq,
                    "data": base64.b64encode(data).decode(), "approximateArrivalTimestamp": time.time()},
        "eventSource": "aws:kinesis", "eventVersion": "1.0", "eventID": f"shardId-000000000000:{seq}",
        "eventName": "aws:kinesis:record", "invokeIdentityArn": f"arn:aws:iam::{account}:role/multicloud",
        "awsRegion": region, "eventSourceARN": f"arn:aws:kinesis:{region}:{account}:stream/{name}",
    }]}


def scheduled_event(name: str, expression: str, region: str, account: str, time_: str, event_id: str,
                    schedule_arn: str) -> dict[str, Any]:
    """EventBridge's scheduled-event shape; Scheduler fills the <aws.scheduler.*> placeholders."""
    return {"version": "0", "id": event_id, "detail-type": "Scheduled Event", "source": "aws.events",
            "account": account, "time": time_, "region": region, "resources": [schedule_arn],
            "detail": {"schedule": name, "expression": expression}}


def scheduler_input(name: str, expression: str, region: str, account: str) -> str:
    return json.dumps(scheduled_event(name, expression, region, account, "<aws.scheduler.scheduled-time>",
                                      "<aws.scheduler.execution-id>", "<aws.scheduler.schedule-arn>"),
                      sort_keys=True)


def sample_event(fn: ResolvedFunction, request: InvokeRequest, region: str, account: str, service_name: str
                 ) -> dict[str, Any]:
    kind = request.trigger
    if request.event is not None and kind != "http":
        return dict(request.event)
    if kind == "http":
        route = next((t.http.path for t in fn.triggers if t.http is not None), "/")
        return http_event(request, request.path or route, region)
    if kind == "storage":
        return s3_event(fn, request, region)
    if kind == "queue":
        return sqs_event(fn, request, region, account)
    if kind == "stream":
        return kinesis_event(fn, request, region, account)
    if kind == "schedule":
        name = f"{service_name}-0"
        from .triggers import schedule_expression  # triggers imports this module

        trig = next((t.schedule for t in fn.triggers if t.schedule is not None), None)
        expr = schedule_expression(trig, fn.name) if trig else "rate(1 hour)"
        return scheduled_event(name, expr, region, account, _now()[:19] + "Z", str(uuid.uuid4()),
                               f"arn:aws:scheduler:{region}:{account}:schedule/default/{name}")
    return json.loads(_body(request, {})) if request.body else {}
