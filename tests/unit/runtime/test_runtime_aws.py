"""The AWS shim against aws-sam-cli's real sample events (tests/events/aws); expected decodings come from
the stdlib's independent implementations (base64, urllib.parse), not from the runtime's own code."""

from __future__ import annotations

import base64
import copy
import json
from urllib.parse import unquote_plus

import pytest
from runtime_samples import aws_event

from multicloud.runtime.aws import entry
from multicloud.runtime.invoke import HandlerLoadError


class LambdaContext:
    """The attributes the Lambda Python runtime's context object carries."""

    function_name = "orders-prod"
    memory_limit_in_mb = "256"
    aws_request_id = "8f5c5b8e-1111-2222-3333-444455556666"

    def get_remaining_time_in_millis(self) -> int:
        return 2_500


@pytest.fixture(scope="module")
def lam():
    return entry("portable_handler.handler", "orders")


def call(lam, event):
    return lam(copy.deepcopy(event), LambdaContext())


def v2(path: str = "/path/to/resource", **changes):
    event = aws_event("apigw-http-api-v2.json")
    event["rawPath"] = path
    event["requestContext"]["http"]["path"] = path
    event.update(changes)
    return event


def test_http_api_v2_sample_event(lam) -> None:
    event = v2()
    event["headers"]["Content-Type"] = "application/json"
    event["headers"]["X-Case-Test"] = "ok"
    out = call(lam, event)
    assert out["statusCode"] == 200 and out["isBase64Encoded"] is False
    assert out["headers"]["content-type"] == "application/json"
    seen = json.loads(out["body"])
    assert seen["json"] == json.loads(base64.b64decode(event["body"])) == {"test": "body"}  # base64 body
    assert seen["method"] == "POST" and seen["path"] == "/path/to/resource"
    assert seen["query"] == {"parameter1": ["value1", "value2"], "parameter2": ["value"]}
    assert seen["path_params"] == {"parameter1": "value1"}
    assert seen["x_case"] == "ok"
    assert seen["client_ip"] == "192.168.0.1"
    assert seen["target"] == "aws" and seen["function"] == "orders"
    assert seen["type"] == "io.multicloud.http.request"


def test_http_api_v2_cookies_query_encoding_and_text_body(lam) -> None:
    event = v2(cookies=["session=abc", "theme=dark"], rawQueryString="q=a%20b%2Bc&q=%C3%A9&empty=",
               body="plain", isBase64Encoded=False)
    seen = json.loads(call(lam, event)["body"])
    assert seen["cookies"] == {"session": "abc", "theme": "dark"}
    assert seen["query"] == {"q": ["a b+c", "é"], "empty": [""]}
    assert seen["body_text"] == "plain"


def test_binary_response_is_base64(lam) -> None:
    out = call(lam, v2("/binary"))
    assert out["isBase64Encoded"] is True
    assert base64.b64decode(out["body"]) == bytes(range(256))
    assert out["headers"]["content-type"] == "application/octet-stream"


def test_binary_request_round_trips(lam) -> None:
    payload = bytes(range(256)) * 4
    event = v2("/upload", body=base64.b64encode(payload).decode(), isBase64Encoded=True)
    out = call(lam, event)
    assert base64.b64decode(out["body"]) == payload


def test_text_and_none_responses(lam) -> None:
    out = call(lam, v2("/text"))
    assert (out["body"], out["isBase64Encoded"]) == ("plain text ✓", False)
    assert out["headers"]["content-type"] == "text/plain; charset=utf-8"
    assert call(lam, v2("/none"))["statusCode"] == 204


def test_response_object_sets_status_headers_and_cookies_v2(lam) -> None:
    out = call(lam, v2("/response"))
    assert out["statusCode"] == 201
    assert out["headers"]["x-custom"] == "yes"
    assert out["cookies"] == ["session=abc; Path=/; HttpOnly", "theme=dark; Path=/"]
    assert out["body"] == "<b>created</b>" and out["isBase64Encoded"] is False


def test_exception_gives_generic_500_and_logs_traceback(lam, log_lines) -> None:
    out = call(lam, v2("/boom"))
    assert out["statusCode"] == 500
    assert json.loads(out["body"]) == {"error": "internal server error"}
    assert "hunter2" not in json.dumps(out) and "Traceback" not in json.dumps(out)
    record = log_lines()[-1]
    assert record["request_id"] == LambdaContext.aws_request_id and "hunter2" in record["traceback"]


def test_rest_v1_sample_event(lam) -> None:
    event = aws_event("apigw-rest-v1.json")
    event["multiValueQueryStringParameters"] = {"foo": ["bar", "baz"]}
    event["multiValueHeaders"]["Cookie"] = ["a=1; b=2"]
    event["multiValueHeaders"]["X-Multi"] = ["one", "two"]
    out = call(lam, event)
    assert set(out) == {"statusCode", "body", "isBase64Encoded", "multiValueHeaders"}
    seen = json.loads(out["body"])
    assert seen["path"] == "/path/to/resource"
    assert seen["query"] == {"foo": ["bar", "baz"]}
    assert seen["path_params"] == {"proxy": "/path/to/resource"}
    assert seen["client_ip"] == "127.0.0.1"
    assert seen["cookies"] == {"a": "1", "b": "2"}
    assert seen["x_multi"] == ["one", "two"]
    assert seen["body_len"] == len(b'{"test":"body"}')


def test_rest_v1_cookies_go_to_multi_value_set_cookie(lam) -> None:
    event = aws_event("apigw-rest-v1.json")
    event["path"] = "/response"
    out = call(lam, event)
    assert out["multiValueHeaders"]["Set-Cookie"] == ["session=abc; Path=/; HttpOnly", "theme=dark; Path=/"]
    assert out["multiValueHeaders"]["X-Custom"] == ["yes"]


def test_alb_sample_event_decodes_raw_query_and_forwarded_ip(lam) -> None:
    event = aws_event("alb.json")
    event["queryStringParameters"] = {"query": "1234ABCD", "q%20x": "a%20b%2Bc"}
    out = call(lam, event)
    assert out["statusDescription"] == "200 OK" and "headers" in out
    seen = json.loads(out["body"])
    assert seen["query"] == {"query": ["1234ABCD"], "q x": ["a b+c"]}
    assert seen["client_ip"] == "72.12.164.125"
    assert seen["path"] == "/path/to/resource"


def test_alb_cookies_single_and_multi_value_modes(lam) -> None:
    event = aws_event("alb.json")
    event["path"] = "/response"
    single = call(lam, event)
    cookies = sorted(v for k, v in single["headers"].items() if k.lower() == "set-cookie")
    assert cookies == ["session=abc; Path=/; HttpOnly", "theme=dark; Path=/"]
    assert single["statusDescription"] == "201 Created"
    event["multiValueHeaders"] = {k: [v] for k, v in event.pop("headers").items()}
    event["multiValueQueryStringParameters"] = {"query": ["1", "2"]}
    multi = call(lam, event)
    assert "headers" not in multi
    assert multi["multiValueHeaders"]["Set-Cookie"] == ["session=abc; Path=/; HttpOnly", "theme=dark; Path=/"]


def test_s3_put_url_decodes_the_key(lam, seen) -> None:
    event = aws_event("s3-put.json")
    assert call(lam, event) is None
    expected = unquote_plus(event["Records"][0]["s3"]["object"]["key"])
    assert seen == [{
        "kind": "storage", "type": "io.multicloud.storage.object.created", "bucket": "example-bucket",
        "key": "photos/my summer/holiday été+1.jpg", "size": 1024,
        "change": "created", "etag": "0123456789abcdef0123456789abcdef",
    }]
    assert seen[0]["key"] == expected


def test_s3_plus_encoded_spaces_and_delete(lam, seen) -> None:
    event = aws_event("s3-put.json")
    event["Records"][0]["s3"]["object"]["key"] = "a+b/c%2Bd%3F.txt"  # how S3 itself encodes keys
    call(lam, event)
    delete = aws_event("s3-delete.json")
    call(lam, delete)
    assert [s["key"] for s in seen] == ["a b/c+d?.txt", "photos/old+file.txt"]
    assert seen[1]["type"] == "io.multicloud.storage.object.deleted" and seen[1]["change"] == "deleted"


def test_s3_handler_exception_is_reraised(lam, seen) -> None:
    event = aws_event("s3-put.json")
    event["Records"][0]["s3"]["object"]["key"] = "x/crash"
    with pytest.raises(RuntimeError, match="storage handler failed"):
        call(lam, event)


def test_sqs_single_and_batch_with_partial_failure(lam, seen) -> None:
    assert call(lam, aws_event("sqs-receive-message.json")) == {"batchItemFailures": []}
    assert seen[0]["text"] == "Hello from SQS!" and seen[0]["type"] == "io.multicloud.queue.messages"
    seen.clear()
    batch = aws_event("sqs-batch.json")
    batch["Records"][0]["messageAttributes"] = {"tenant": {"stringValue": "acme", "dataType": "String"}}
    out = call(lam, batch)
    failed_id = batch["Records"][1]["messageId"]
    assert out == {"batchItemFailures": [{"itemIdentifier": failed_id}]}
    assert [s["text"] for s in seen] == ["order-1", "fail-order-2", "order-3"]
    assert seen[0]["attributes"] == {"tenant": "acme"}


def test_sqs_exception_fails_the_whole_batch(lam, seen) -> None:
    batch = aws_event("sqs-batch.json")
    batch["Records"][2]["body"] = "crash"
    with pytest.raises(RuntimeError):
        call(lam, batch)


def test_kinesis_batch_base64_data_and_failure_by_sequence_number(lam, seen) -> None:
    event = aws_event("kinesis-batch.json")
    out = call(lam, event)
    records = [r["kinesis"] for r in event["Records"]]
    assert [s["text"] for s in seen] == [base64.b64decode(r["data"]).decode() for r in records]
    assert [s["text"] for s in seen] == ["record-1", "fail-record-2", '{"n": 3}']
    assert [s["partition_key"] for s in seen] == ["pk-1", "pk-2", "pk-3"]
    assert out == {"batchItemFailures": [{"itemIdentifier": records[1]["sequenceNumber"]}]}
    assert seen[0]["type"] == "io.multicloud.stream.records"


def test_kinesis_single_record(lam, seen) -> None:
    assert call(lam, aws_event("kinesis-get-records.json")) == {"batchItemFailures": []}
    assert seen[0]["text"] == "hello kinesis"


def test_eventbridge_scheduled_event_and_scheduler_payload(lam, seen) -> None:
    assert call(lam, aws_event("eventbridge-scheduled.json")) is None
    call(lam, {"multicloud.schedule": {"name": "nightly", "time": "2026-11-22T03:00:00Z"}})
    assert seen == [
        {"kind": "schedule", "type": "io.multicloud.schedule.fired", "time": "1970-01-01T00:00:00+00:00",
         "name": "ExampleRule"},
        {"kind": "schedule", "type": "io.multicloud.schedule.fired", "time": "2026-11-22T03:00:00+00:00",
         "name": "nightly"},
    ]


def test_direct_invoke_returns_the_handler_value(lam) -> None:
    out = call(lam, {"hello": "world"})
    assert out == {"echo": {"hello": "world"}, "type": "io.multicloud.direct",
                   "request_id": LambdaContext.aws_request_id}


def test_entry_resolves_secrets_before_import_and_reports_bad_handlers(monkeypatch) -> None:
    monkeypatch.setenv("UPSTREAM_TOKEN", "t0ken")
    monkeypatch.setenv("MULTICLOUD_SECRETS", json.dumps({"API_KEY": "env:UPSTREAM_TOKEN"}))
    for name in ("MULTICLOUD_SECRETS_RESOLVED", "API_KEY"):  # setenv first so teardown removes them
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    entry("portable_handler.handler", "f")
    import os

    assert os.environ["API_KEY"] == "t0ken"
    with pytest.raises(HandlerLoadError, match="no function 'nope'"):
        entry("portable_handler.nope", "f")
