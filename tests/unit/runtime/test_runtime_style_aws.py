"""The `aws` style's parts: the Lambda events it builds (against aws-sam-cli's samples and the AWS shim's own
parsers), the context (against awslambdaric's), the answers it maps back, and the shim on Lambda itself."""

from __future__ import annotations

import base64
import json

import pytest
from awslambdaric.lambda_context import LambdaContext as RicContext
from runtime_samples import aws_event

from multicloud.runtime import aws, lambda_events
from multicloud.runtime.context import Context
from multicloud.runtime.events import BatchResult, Event, Message, ScheduleInfo, StorageObject, parse_time
from multicloud.runtime.http import HttpRequest
from multicloud.runtime.invoke import handle_event, handle_http, load_handler
from multicloud.runtime.lambda_style import AwsStyle, LambdaContext, failed_ids, http_result, native

CTX = Context("orders", "req-1", "local", memory_limit_mb=512, timeout_ms=3000)


def keys(value: object, prefix: str = "") -> set[str]:
    """Every key path of a JSON document (lists: their first item)."""
    if isinstance(value, dict):
        out = set()
        for k, v in value.items():
            out |= {f"{prefix}{k}"} | keys(v, f"{prefix}{k}.")
        return out
    if isinstance(value, list) and value:
        return keys(value[0], prefix)
    return set()


def request() -> HttpRequest:
    return HttpRequest("POST", "/orders/7", path_params={"id": "7"}, query="a=1&a=2&q=x%20y",
                       headers=[("Host", "api.example.com"), ("Content-Type", "application/json"),
                                ("X-Multi", "one"), ("X-Multi", "two"), ("Cookie", "session=abc; theme=dark"),
                                ("User-Agent", "curl/8")],
                       client_ip="203.0.113.9", body=b'{"n": 1}')


# ---- event shapes ------------------------------------------------------------------------------------------

# keys of sam's samples that only exist with features the runtime cannot know about elsewhere
V2_FEATURES = {"requestContext.authentication", "requestContext.authorizer", "stageVariables"}
V1_FEATURES = {"stageVariables.baz", "requestContext.identity.cognitoIdentityPoolId"}


def test_http_v2_event_has_the_shape_of_the_sam_sample() -> None:
    built = lambda_events.http_v2(request(), CTX, route="/orders/{id}")
    sample = {k for k in keys(aws_event("apigw-http-api-v2.json")) if not k.startswith(tuple(V2_FEATURES))}
    assert sample - {"pathParameters.parameter1", "queryStringParameters.parameter1",
                     "queryStringParameters.parameter2", "headers.Header1", "headers.Header2"} <= keys(built)
    assert built["headers"] == {"host": "api.example.com", "content-type": "application/json",
                                "x-multi": "one,two", "user-agent": "curl/8"}
    assert built["cookies"] == ["session=abc", "theme=dark"] and built["rawQueryString"] == "a=1&a=2&q=x%20y"
    assert built["queryStringParameters"] == {"a": "1,2", "q": "x y"} and built["pathParameters"] == {"id": "7"}
    assert (built["body"], built["isBase64Encoded"]) == ('{"n": 1}', False)  # JSON is text


def test_http_v1_event_has_the_shape_of_the_sam_sample() -> None:
    built = lambda_events.http_v1(request(), CTX, route="/orders/{id}")
    sample = aws_event("apigw-rest-v1.json")
    assert set(sample) == set(built)
    assert set(sample["requestContext"]) <= set(built["requestContext"]) | {"resourceId"}
    assert set(sample["requestContext"]["identity"]) == set(built["requestContext"]["identity"])
    assert built["multiValueHeaders"]["X-Multi"] == ["one", "two"] and built["headers"]["X-Multi"] == "two"
    assert built["multiValueQueryStringParameters"] == {"a": ["1", "2"], "q": ["x y"]}
    assert built["queryStringParameters"] == {"a": "2", "q": "x y"}
    assert (built["resource"], built["requestContext"]["resourcePath"]) == ("/orders/{id}", "/orders/{id}")


def test_built_http_events_read_back_through_the_lambda_shim_as_the_same_request() -> None:
    """The AWS shim's own parsers (tested against real payloads) see the request that was built."""
    for built, parse in ((lambda_events.http_v2(request(), CTX), aws._request_v2),
                         (lambda_events.http_v1(request(), CTX), lambda e: aws._request_v1(e, False))):
        back = parse(built)
        assert (back.method, back.path, back.query, back.body) == ("POST", "/orders/7", {"a": ["1", "2"], "q": ["x y"]},
                                                                    b'{"n": 1}')
        assert back.cookies == {"session": "abc", "theme": "dark"} and back.path_params == {"id": "7"}


def test_binary_request_bodies_travel_base64() -> None:
    req = HttpRequest("PUT", "/f", headers={"Content-Type": "image/png"}, body=bytes(range(256)))
    for built in (lambda_events.http_v2(req, CTX), lambda_events.http_v1(req, CTX)):
        assert built["isBase64Encoded"] is True and base64.b64decode(built["body"]) == bytes(range(256))


def test_records_have_the_shape_of_the_sam_samples() -> None:
    messages = [Message("m-1", b"order-1", attributes={"dequeue_count": "3", "tenant": "t1"},
                        time="2026-01-02T03:04:05Z")]
    sqs = lambda_events.sqs_records(messages, "//pubsub.googleapis.com/projects/p/topics/orders")[0]
    assert keys(aws_event("sqs-receive-message.json")["Records"][0]) <= keys(sqs)
    assert sqs["attributes"]["ApproximateReceiveCount"] == "3" and sqs["eventSourceARN"].endswith(":orders")
    assert sqs["messageAttributes"] == {"tenant": {"stringValue": "t1", "stringListValues": [],
                                                   "binaryListValues": [], "dataType": "String"}}
    assert sqs["attributes"]["SentTimestamp"] == str(int(parse_time("2026-01-02T03:04:05Z").timestamp() * 1000))

    records, ids = lambda_events.kinesis_records([Message("7", b"\x00\xff", partition_key="pk", sequence="49")], "s")
    assert keys(aws_event("kinesis-get-records.json")["Records"][0]) <= keys(records[0])
    assert (base64.b64decode(records[0]["kinesis"]["data"]), ids) == (b"\x00\xff", {"49": "7"})

    s3 = lambda_events.s3_record(StorageObject("b", "photos/my summer/été+1.jpg", "created", size=3, etag='"e"'),
                                 "evt-1", "2026-01-02T03:04:05Z")
    assert keys(aws_event("s3-put.json")["Records"][0]) <= keys(s3)
    assert s3["s3"]["object"]["key"] == "photos/my+summer/%C3%A9t%C3%A9%2B1.jpg"  # S3's own URL encoding
    assert s3["eventTime"] == "2026-01-02T03:04:05.000Z" and s3["s3"]["object"]["eTag"] == "e"
    deleted = lambda_events.s3_record(StorageObject("b", "k", "deleted"), "evt-2", None)
    assert deleted["eventName"] == "ObjectRemoved:Delete" and keys(aws_event("s3-delete.json")["Records"][0]) <= \
        keys(deleted)

    when = parse_time("2026-01-02T03:00:00Z")
    scheduled = lambda_events.scheduled_event(ScheduleInfo(when, "0 3 * * *"), "evt-3")
    assert set(aws_event("eventbridge-scheduled.json")) <= set(scheduled)
    assert scheduled["time"] == "2026-01-02T03:00:00Z" and scheduled["resources"][0].endswith(":rule/0-3")


# ---- context and answers -------------------------------------------------------------------------------


def test_the_context_offers_what_awslambdarics_does() -> None:
    real = RicContext("id", None, None, 0, "arn:aws:lambda:us-east-1:123456789012:function:f")
    ours = LambdaContext(Context("orders", "req-1", "local", memory_limit_mb=512, timeout_ms=3000))
    public = {n for n in dir(real) if not n.startswith("_")}
    assert public <= {n for n in dir(ours) if not n.startswith("_")}
    assert ours.memory_limit_in_mb == "512" and isinstance(real.memory_limit_in_mb, (str, type(None)))
    assert 0 < ours.get_remaining_time_in_millis() <= 3000 and ours.aws_request_id == "req-1"
    assert ours.invoked_function_arn.endswith(":function:orders") and ours.log_group_name == "/aws/lambda/orders"


def test_http_answers_map_as_api_gateway_maps_them() -> None:
    plain = http_result({"ok": True}, "2.0")  # 2.0 without statusCode: the value is a 200 JSON body
    assert (plain.status, plain.header("content-type"), json.loads(plain.body)) == (200, "application/json",
                                                                                    {"ok": True})
    assert http_result({"ok": True}, "1.0").status == 502  # 1.0 needs statusCode: malformed proxy response
    v1 = http_result({"statusCode": 200, "headers": {"X-A": "1", "Set-Cookie": "a=1"},
                      "multiValueHeaders": {"X-A": ["2", "3"], "Set-Cookie": ["b=2", "c=3"]},
                      "body": base64.b64encode(b"\x89PNG").decode(), "isBase64Encoded": True}, "1.0")
    assert [v for k, v in v1.headers if k == "X-A"] == ["2", "3"] and v1.cookies == ["b=2", "c=3"]
    assert v1.body == b"\x89PNG"
    v2 = http_result({"statusCode": "201", "headers": {"content-type": "text/plain"}, "cookies": ["s=1"],
                      "body": "hi", "multiValueHeaders": {"X-Ignored": ["1"]}}, "2.0")
    assert (v2.status, v2.cookies, v2.body, v2.header("x-ignored")) == (201, ["s=1"], b"hi", None)


def test_batch_item_failures_name_messages_and_an_unknown_one_fails_the_batch() -> None:
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": "s-2"}]}, {"s-1": "a", "s-2": "b"}) == ["b"]
    assert failed_ids(None, {"s-1": "a"}) == [] and failed_ids({"batchItemFailures": []}, {}) == []
    with pytest.raises(ValueError, match="not in this batch"):
        failed_ids({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, {"s-1": "a"})


def test_an_aws_handler_as_a_portable_one(tmp_path, monkeypatch) -> None:
    (tmp_path / "legacy_mod.py").write_text(
        "def handler(event, context):\n"
        "    if 'Records' in event:\n"
        "        return {'batchItemFailures': [{'itemIdentifier': r['messageId']} for r in event['Records']\n"
        "                                      if r['body'] == 'bad']}\n"
        "    return {'statusCode': 200, 'body': event['rawPath'] + ' ' + context.function_name}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    handler = load_handler("legacy_mod.handler", style="aws")
    assert isinstance(handler, AwsStyle)
    result = handle_http(handler, HttpRequest("GET", "/x y"), Context("fn", "r", "gcp"))
    assert (result.status, result.body) == (200, b"/x%20y fn")
    batch = Event("queue", id="1", source="/q", messages=[Message("a", b"ok"), Message("b", b"bad")])
    assert handle_event(handler, batch, Context("fn", "r", "gcp")) == ["b"]


# ---- on Lambda itself --------------------------------------------------------------------------------------


def test_on_lambda_the_native_event_is_passed_through_untouched() -> None:
    got: list[tuple[object, object]] = []

    def fn(event: object, context: object) -> object:
        got.append((event, context))
        return {"statusCode": 204}

    lam = native(fn, "2.0", ("/v2/{proxy+}",))
    for name in ("apigw-http-api-v2.json", "sqs-batch.json", "kinesis-batch.json", "s3-put.json",
                 "eventbridge-scheduled.json"):
        event, context = aws_event(name), object()
        before = json.dumps(event, sort_keys=True)
        assert lam(event, context) == {"statusCode": 204}
        assert got[-1][0] is event and got[-1][1] is context and json.dumps(event, sort_keys=True) == before


def test_on_lambda_a_function_url_event_gets_the_spec_routes_path_parameters() -> None:
    got: list[dict] = []
    lam = native(lambda e, c: got.append(e), "2.0", ("/orders/{id}",))
    event = aws_event("apigw-http-api-v2.json")
    event.pop("pathParameters")
    event["rawPath"] = "/orders/7"
    lam(event, None)
    assert got[0]["pathParameters"] == {"id": "7"}


def test_on_lambda_a_payload_1_0_handler_behind_a_function_url_gets_and_gives_1_0() -> None:
    seen: list[dict] = []

    def fn(event: dict, context: object) -> dict:
        seen.append(event)
        return {"statusCode": 200, "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]}, "body": "ok"}

    class RealContext:
        aws_request_id, function_name, memory_limit_in_mb = "rid", "orders-dev-api", "256"

        def get_remaining_time_in_millis(self) -> int:
            return 1000

    event = aws_event("apigw-http-api-v2.json")
    del event["pathParameters"]  # a Function URL has no routes
    answer = native(fn, "1.0", ("/path/{rest+}",))(event, RealContext())
    assert "httpMethod" in seen[0] and seen[0]["resource"] == "/path/{rest+}"
    assert seen[0]["pathParameters"] == {"rest": "to/resource"} and seen[0]["httpMethod"] == "POST"
    assert answer["statusCode"] == 200 and answer["cookies"] == ["a=1", "b=2"] and answer["body"] == "ok"


def test_entry_with_style_aws_returns_the_native_handler(tmp_path, monkeypatch) -> None:
    (tmp_path / "legacy_entry.py").write_text("def handler(event, context):\n    return event\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    lam = aws.entry("legacy_entry.handler", "fn", style="aws")
    payload = {"anything": [1, 2]}
    assert lam(payload, None) is payload
    assert BatchResult  # the portable API stays importable beside it
