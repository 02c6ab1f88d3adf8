"""`style: aws`: the same Lambda handlers answer the same aws-sam-cli sample events with the same results on
Lambda (awslambdaric running the built zip), the private runtime, functions-framework (GCP) and the
azure-functions indexer (Azure). HTTP payload 2.0 and 1.0, SQS and Kinesis with batchItemFailures, S3 and
EventBridge scheduled events.

On Lambda the sample event goes in as it is. Elsewhere the test sends what that event describes in the
platform's own form (an HTTP request, a Pub/Sub push, a queue message, an Event Hubs batch, a blob, a
timer) and the runtime must rebuild the Lambda event: the handlers record what they saw, and that record
must be the same everywhere, as must the answer.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from urllib.parse import urlencode

import azure.functions as func
import pytest
from azure.functions.blob import InputStream
from azure.functions.timer import TimerRequest
from styles_support import Request, View, lambda_view, sample

from multicloud.providers.gcp.model import ScheduleSpec
from multicloud.providers.gcp.resources import schedule_event
from multicloud.runtime.invoke import BatchFailure

pytestmark = pytest.mark.slow


# ---- HTTP ------------------------------------------------------------------------------------------------


def v2_event(tail: str, method: str = "POST") -> dict:
    """The sam sample, routed as the spec routes it (/v2/{proxy+}); header names lower-cased, as API
    Gateway sends them (sam's template keeps `Header1`)."""
    event = sample("apigw-http-api-v2.json")
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/v2/{tail}"
    event["requestContext"]["http"]["method"] = method
    event["pathParameters"] = {"proxy": tail}
    event["headers"] = {k.lower(): v for k, v in event["headers"].items()}
    if method == "GET":
        del event["body"]
        event["isBase64Encoded"] = False
    return event


def v1_event(tail: str, method: str = "POST") -> dict:
    """The sam sample, routed as the spec routes it (/v1/{proxy+}); `proxy` without the leading slash, as API
    Gateway fills it (sam's template has one)."""
    event = sample("apigw-rest-v1.json")
    event.update(path=f"/v1/{tail}", resource="/v1/{proxy+}", httpMethod=method, pathParameters={"proxy": tail})
    event["requestContext"].update(resourcePath="/v1/{proxy+}", httpMethod=method)
    if method == "GET":
        event.update(body=None, isBase64Encoded=False)
    return event


def request_of(event: dict) -> Request:
    """The HTTP request the event describes, as a client sends it to the other targets."""
    body = base64.b64decode(event["body"]) if event.get("isBase64Encoded") else (event.get("body") or "").encode()
    if "httpMethod" in event:
        headers = [(k, v) for k, values in event["multiValueHeaders"].items() for v in values]
        query = urlencode(event["multiValueQueryStringParameters"] or {}, doseq=True)
        return Request(event["httpMethod"], event["path"], query, headers, body)
    headers = list(event["headers"].items())
    if event.get("cookies"):
        headers.append(("Cookie", "; ".join(event["cookies"])))
    return Request(event["requestContext"]["http"]["method"], event["rawPath"], event["rawQueryString"], headers,
                   body)


HTTP_CASES = [("2.0", "http_v2", v2_event("path/to/resource")), ("2.0", "http_v2", v2_event("a/binary", "GET")),
              ("2.0", "http_v2", v2_event("a/plain", "GET")), ("1.0", "http_v1", v1_event("path/to/resource")),
              ("1.0", "http_v1", v1_event("b/binary", "GET"))]


def comparable(view: View) -> tuple:
    body = view.data if view.headers.get("content-type") == "application/json" else view.body
    return view.status, view.headers, view.cookies, body


@pytest.mark.parametrize(("payload", "function", "event"), HTTP_CASES,
                         ids=[f"{f}-{e.get('rawPath') or e['path']}" for _, f, e in HTTP_CASES])
def test_http_sample_events_give_the_same_answers_everywhere(payload, function, event, seen, lambda_target,
                                                              local_target, gcp_target, azure_target) -> None:
    views, saw = {}, {}
    views["lambda"] = lambda_view(lambda_target.invoke(function, event), payload)
    saw["lambda"] = seen()
    req = request_of(event)
    views["local"] = local_target.http(req)
    saw["local"] = seen()
    views["gcp"] = gcp_target.http(function, req)
    saw["gcp"] = seen()
    views["azure"] = azure_target.http(function, req, {"proxy": event["pathParameters"]["proxy"]})
    saw["azure"] = seen()

    reference = comparable(views["lambda"])
    for target, view in views.items():
        assert comparable(view) == reference, target
        assert saw[target] == saw["lambda"], target
    record = saw["lambda"][0]
    assert record["context"] == [True, True, True, True]
    if event.get("isBase64Encoded"):
        assert (record["body"], record["base64"]) == ('{"test":"body"}', True)
    if payload == "2.0":
        assert record["query"] == {"parameter1": "value1,value2", "parameter2": "value"}
        assert record["cookies"] == ["cookie1", "cookie2"] and record["headers"]["header2"] == "value1,value2"
    else:
        assert record["query"] == {"foo": ["bar"]} and record["resource"] == "/v1/{proxy+}"
        assert record["headers"]["x-forwarded-proto"] == "https"
    if record["path"].endswith("binary"):
        assert views["local"].body == bytes(range(256)) and views["local"].headers["content-type"] == "image/png"
    elif record["path"].endswith("plain"):
        assert views["local"].data == {"plain": True, "path": "/v2/a/plain"}
    else:
        assert views["local"].status == 201 and views["local"].data == record
        assert views["local"].cookies == ["session=abc", "theme=dark"]


def test_a_payload_1_0_handler_behind_a_function_url_gets_the_rest_event(seen, lambda_target, local_target) -> None:
    """Function URLs always send payload 2.0: the Lambda shim hands a 1.0 handler the REST-shaped event,
    the same one the private runtime builds, and turns its 1.0 answer into a 2.0 one."""
    event = v2_event("path/to/resource")
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/v1/path/to/resource"
    event.pop("pathParameters")  # a Function URL has no routes: the spec's route fills the parameters
    answer = lambda_target.invoke("http_v1", event)
    assert set(answer) >= {"statusCode", "headers", "cookies", "body"}
    on_lambda = seen()
    assert lambda_view(answer, "2.0").cookies == ["session=abc", "theme=dark"]
    assert answer["headers"]["x-multi"] == "a,b"  # 2.0 has no multi-value headers: joined
    local = local_target.http(request_of(event))
    assert seen() == on_lambda and on_lambda[0]["format"] == "1.0"
    assert on_lambda[0]["path_parameters"] == {"proxy": "path/to/resource"}
    assert local.status == answer["statusCode"] == 201 and local.data == json.loads(answer["body"])


def test_the_native_event_reaches_the_handler_untouched_on_lambda(seen, lambda_target) -> None:
    event = v2_event("path/to/resource")
    answer = lambda_target.invoke("http_v2", event)
    record = seen()[0]
    assert record["path_parameters"] == event["pathParameters"] and record["raw_query"] == event["rawQueryString"]
    assert json.loads(answer["body"]) == record


# ---- queues, streams, storage, schedules -----------------------------------------------------------------


def test_sqs_batch_item_failures_retry_only_the_failed_message(seen, lambda_target, local_target, gcp_target,
                                                                azure_target) -> None:
    event = sample("sqs-batch.json")
    records = event["Records"]
    failing = {r["messageId"] for r in records if r["body"].startswith("fail")}
    assert len(failing) == 1

    answer = lambda_target.invoke("orders", event)
    failed = {"lambda": {i["itemIdentifier"] for i in answer["batchItemFailures"]}}
    saw = {"lambda": seen()}

    resp = local_target.event("orders", "io.multicloud.queue.messages",
                              {"messages": [{"id": r["messageId"], "body": r["body"]} for r in records]})
    assert resp.status == 200
    failed["local"], saw["local"] = set(resp.data["failed"]), seen()

    failed["gcp"] = set()  # Pub/Sub pushes one message at a time: a failed one is answered 500 and redelivered
    for r in records:
        status = gcp_target.cloud_event("orders", {
            "type": "google.cloud.pubsub.topic.v1.messagePublished", "id": r["messageId"],
            "source": "//pubsub.googleapis.com/projects/legacy-test/topics/orders"},
            {"message": {"data": base64.b64encode(r["body"].encode()).decode(), "messageId": r["messageId"],
                         "publishTime": "2026-01-01T00:00:00Z"},
             "subscription": "projects/legacy-test/subscriptions/s"})
        if status != 200:
            assert status == 500
            failed["gcp"].add(r["messageId"])
    saw["gcp"] = seen()

    failed["azure"] = set()  # a storage queue message per invocation: a failure raises, the host retries it
    for r in records:
        try:
            azure_target.call("orders", func.QueueMessage(id=r["messageId"], body=r["body"].encode()))
        except BatchFailure as exc:
            failed["azure"].update(exc.failed)
    saw["azure"] = seen()

    assert all(ids == failing for ids in failed.values()), failed
    for target, records_seen in saw.items():
        assert records_seen == saw["lambda"], target
    assert [s["body"] for s in saw["lambda"]] == ["order-1", "fail-order-2", "order-3"]
    assert {s["arn"] == ["arn", "aws", "sqs"] and s["receive_count"] == "1" for s in saw["lambda"]} == {True}


def test_kinesis_batch_item_failures_name_the_sequence_number(seen, lambda_target, local_target,
                                                               azure_target) -> None:
    event = sample("kinesis-batch.json")
    records = [r["kinesis"] for r in event["Records"]]
    answer = lambda_target.invoke("clicks", event)
    failed = {"lambda": [i["itemIdentifier"] for i in answer["batchItemFailures"]]}
    saw = {"lambda": seen()}

    messages = [{"id": k["sequenceNumber"], "sequence": k["sequenceNumber"], "partition_key": k["partitionKey"],
                 "body_base64": k["data"]} for k in records]
    resp = local_target.event("clicks", "io.multicloud.stream.records", {"messages": messages})
    failed["local"], saw["local"] = resp.data["failed"], seen()

    batch = [func.EventHubEvent(body=base64.b64decode(k["data"]), partition_key=k["partitionKey"],
                                sequence_number=int(k["sequenceNumber"]),
                                enqueued_time=datetime(2015, 4, 9, tzinfo=timezone.utc)) for k in records]
    with pytest.raises(BatchFailure) as raised:  # Event Hubs retries a batch whole (when a retry policy is set)
        azure_target.call("clicks", batch)
    failed["azure"], saw["azure"] = raised.value.failed, seen()

    assert failed == {t: [records[1]["sequenceNumber"]] for t in failed}
    assert saw["local"] == saw["lambda"] and saw["azure"] == saw["lambda"]
    assert [s["data"] for s in saw["lambda"]] == ["record-1", "fail-record-2", '{"n": 3}']


def test_s3_put_reaches_the_handler_as_the_same_record(seen, lambda_target, local_target, gcp_target,
                                                       azure_target) -> None:
    event = sample("s3-put.json")
    obj = event["Records"][0]["s3"]["object"]
    bucket, key = event["Records"][0]["s3"]["bucket"]["name"], "photos/my summer/holiday été+1.jpg"
    assert lambda_target.invoke("uploads", event) is None
    saw = {"lambda": seen()}
    resp = local_target.event("uploads", "io.multicloud.storage.object.created",
                              {"bucket": bucket, "key": key, "size": obj["size"]})
    assert resp.status == 200
    saw["local"] = seen()
    assert gcp_target.cloud_event("uploads", {"type": "google.cloud.storage.object.v1.finalized", "id": "1",
                                              "source": f"//storage.googleapis.com/projects/_/buckets/{bucket}"},
                                  {"bucket": bucket, "name": key, "size": str(obj["size"])}) == 200
    saw["gcp"] = seen()
    azure_target.call("uploads", InputStream(data=b"x" * obj["size"], name=f"{bucket}/{key}", length=obj["size"]))
    saw["azure"] = seen()
    for target, records in saw.items():
        assert records == saw["lambda"], target
    assert saw["lambda"] == [{"kind": "s3", "bucket": bucket, "key": key, "size": 1024, "event": "ObjectCreated",
                              "source": "aws:s3"}]


def test_scheduled_event_is_the_same_everywhere(seen, lambda_target, local_target, gcp_target, azure_target) -> None:
    assert lambda_target.invoke("nightly", sample("eventbridge-scheduled.json")) is None
    saw = {"lambda": seen()}
    assert local_target.event("nightly", "io.multicloud.schedule.fired", {"name": "nightly"}).status == 200
    saw["local"] = seen()
    job = schedule_event("projects/legacy-test/locations/europe-west1", ScheduleSpec("legacy-nightly-0", "0 3 * * *",
                                                                                     "cron 0 3 * * *"))
    assert gcp_target.cloud_event("nightly", {k: v for k, v in job.items() if k != "data"}, job["data"]) == 200
    saw["gcp"] = seen()
    azure_target.call("nightly", TimerRequest(past_due=False))
    saw["azure"] = seen()
    for target, records in saw.items():
        assert records == saw["lambda"], target
    assert saw["lambda"] == [{"kind": "scheduled", "detail_type": "Scheduled Event", "source": "aws.events",
                              "detail": {}, "rule": ["arn", "aws", "events"]}]
