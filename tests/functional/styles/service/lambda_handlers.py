"""Lambda handlers as they were written for AWS: raw event dicts in, Lambda's answers out.

Each records what it saw (a normalised view of the event) as one JSON line in $STYLES_SEEN, so a test
can compare what the same handler saw on every target.
"""

import base64
import json
import os


def _seen(view):
    path = os.environ.get("STYLES_SEEN")
    if path:
        with open(path, "a") as out:
            out.write(json.dumps(view, sort_keys=True) + "\n")
    return view


def _header(headers, name):
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return None


def http(event, context):
    v1 = "httpMethod" in event
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    headers = event.get("headers") or {}
    view = {
        "format": "1.0" if v1 else event["version"],
        "method": event["httpMethod"] if v1 else event["requestContext"]["http"]["method"],
        "path": event["path"] if v1 else event["rawPath"],
        "query": event.get("multiValueQueryStringParameters") if v1 else event.get("queryStringParameters"),
        "raw_query": None if v1 else event["rawQueryString"],
        "path_parameters": event.get("pathParameters"),
        "headers": {h: _header(headers, h) for h in ("header1", "header2", "accept", "x-forwarded-proto")},
        "cookies": _header(headers, "cookie") if v1 else event.get("cookies"),
        "body": body,
        "base64": event.get("isBase64Encoded"),
        "resource": event.get("resource"),
        "context": [context.function_name is not None, context.aws_request_id is not None,
                    isinstance(context.get_remaining_time_in_millis(), int), str(context.memory_limit_in_mb).isdigit()],
    }
    _seen(view)
    path = view["path"]
    if path.endswith("/binary"):
        return {"statusCode": 200, "headers": {"Content-Type": "image/png"}, "isBase64Encoded": True,
                "body": base64.b64encode(bytes(range(256))).decode()}
    if path.endswith("/plain") and not v1:
        return {"plain": True, "path": path}          # payload 2.0: a 200 JSON answer
    cookies = ["session=abc; Path=/; HttpOnly", "theme=dark"]
    response = {"statusCode": 201, "headers": {"Content-Type": "application/json", "X-Handler": "aws"},
                "body": json.dumps(view, sort_keys=True), "isBase64Encoded": False}
    if v1:
        response["multiValueHeaders"] = {"Set-Cookie": cookies, "X-Multi": ["a", "b"]}
    else:
        response["cookies"] = cookies
    return response


def sqs(event, context):
    failed = []
    for record in event["Records"]:
        _seen({"kind": "sqs", "id": record["messageId"], "body": record["body"], "source": record["eventSource"],
               "arn": record["eventSourceARN"].split(":")[:3], "md5": record["md5OfBody"],
               "receive_count": record["attributes"]["ApproximateReceiveCount"]})
        if record["body"].startswith("fail"):
            failed.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failed}


def kinesis(event, context):
    failed = []
    for record in event["Records"]:
        data = base64.b64decode(record["kinesis"]["data"]).decode()
        sequence = record["kinesis"]["sequenceNumber"]
        _seen({"kind": "kinesis", "data": data, "partition_key": record["kinesis"]["partitionKey"],
               "sequence": sequence, "source": record["eventSource"], "event_name": record["eventName"],
               "event_id": record["eventID"].endswith(":" + sequence)})
        if data.startswith("fail"):
            failed.append({"itemIdentifier": sequence})
    return {"batchItemFailures": failed}


def s3(event, context):
    from urllib.parse import unquote_plus

    for record in event["Records"]:
        obj = record["s3"]["object"]
        _seen({"kind": "s3", "bucket": record["s3"]["bucket"]["name"], "key": unquote_plus(obj["key"]),
               "size": obj["size"], "event": record["eventName"].split(":")[0], "source": record["eventSource"]})


def scheduled(event, context):
    _seen({"kind": "scheduled", "detail_type": event["detail-type"], "source": event["source"],
           "detail": event["detail"], "rule": event["resources"][0].split(":")[:3]})
