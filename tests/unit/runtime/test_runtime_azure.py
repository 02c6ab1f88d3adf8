"""The Azure shim with real azure.functions objects, including the worker's own converters
(EventHubTriggerConverter.decode for incoming batches, HttpResponseConverter.encode for the response)."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace

import azure.functions as func
import pytest
from azure.functions.blob import InputStream
from azure.functions.eventhub import EventHubTriggerConverter
from azure.functions.http import HttpResponseConverter
from azure.functions.meta import Datum
from azure.functions.timer import TimerRequest

from multicloud.runtime.azure import AzureShim
from multicloud.runtime.invoke import BatchFailure


@pytest.fixture(scope="module")
def shim() -> AzureShim:
    return AzureShim("portable_handler.handler", "orders")


def request(path: str = "/api/orders/7", method: str = "POST", query: str = "a=1&a=2&q=x%20y",
            body: bytes = b'{"test": "body"}', headers: dict[str, str] | None = None) -> func.HttpRequest:
    base = {"Content-Type": "application/json", "X-Forwarded-For": "203.0.113.9:53211, 10.0.0.1",
            "Cookie": "session=abc; theme=dark", "X-Case-Test": "ok", "X-Multi": "one"}
    return func.HttpRequest(method, f"https://orders.azurewebsites.net{path}?{query}",
                            headers={**base, **(headers or {})}, params={"a": "2", "q": "x y"},
                            route_params={"id": "7"}, body=body)


def body_of(resp: func.HttpResponse) -> dict:
    return json.loads(resp.get_body())


def test_http_request_view(shim) -> None:
    resp = shim.http(request(), SimpleNamespace(invocation_id="inv-1"))
    assert isinstance(resp, func.HttpResponse) and resp.status_code == 200
    assert resp.mimetype == "application/json"
    seen = body_of(resp)
    assert seen["method"] == "POST" and seen["path"] == "/api/orders/7"
    assert seen["query"] == {"a": ["1", "2"], "q": ["x y"]}  # multi-valued, from the URL
    assert seen["path_params"] == {"id": "7"}
    assert seen["client_ip"] == "203.0.113.9"
    assert seen["cookies"] == {"session": "abc", "theme": "dark"}
    assert seen["json"] == {"test": "body"} and seen["x_case"] == "ok"
    assert seen["target"] == "azure" and seen["function"] == "orders"


def test_http_binary_text_and_response_object_through_the_worker_converter(shim) -> None:
    binary = shim.http(request("/api/binary", "GET", body=b""))
    assert binary.get_body() == bytes(range(256)) and binary.mimetype == "application/octet-stream"
    text = shim.http(request("/api/text", "GET", body=b""))
    assert text.get_body().decode() == "plain text ✓" and text.charset == "utf-8"
    resp = shim.http(request("/api/response", "GET", body=b""))
    wire = HttpResponseConverter.encode(resp, expected_type=None).value
    assert wire["status_code"].value == "201"
    headers = {k.lower(): v.value for k, v in wire["headers"].items()}
    assert headers["x-custom"] == "yes" and headers["content-type"] == "text/html; charset=utf-8"
    assert "set-cookie" not in headers  # the converter moved them to `cookies`
    cookies = [c.output(header="").strip() for c in wire["cookies"]]
    assert len(cookies) == 2 and cookies[0].startswith("session=abc") and "HttpOnly" in cookies[0]
    assert wire["body"].value == b"<b>created</b>"


def test_http_exception_is_generic_500(shim, log_lines) -> None:
    resp = shim.http(request("/api/boom"), SimpleNamespace(invocation_id="inv-boom"))
    assert resp.status_code == 500 and b"hunter2" not in resp.get_body()
    record = log_lines()[-1]
    assert record["request_id"] == "inv-boom" and "hunter2" in record["traceback"]


def test_http_params_only_request(shim) -> None:
    req = func.HttpRequest("GET", "http://localhost:7071/api/echo", params={"k": "v"}, body=b"")
    assert body_of(shim.http(req))["query"] == {"k": ["v"]}


def hub_event(body: bytes, seq: int) -> func.EventHubEvent:
    return func.EventHubEvent(body=body, enqueued_time=dt.datetime(2026, 11, 22, tzinfo=dt.timezone.utc),
                              partition_key=f"pk-{seq}", sequence_number=seq, offset=str(seq * 100))


def test_eventhub_single_event(shim, seen) -> None:
    assert shim.eventhub(hub_event(b"hello", 5)) is None
    assert seen == [{"kind": "stream", "type": "io.multicloud.stream.records", "id": "5", "text": "hello",
                     "attributes": {}, "partition_key": "pk-5", "sequence": "5"}]


def test_eventhub_many_with_partial_failure_retries_whole_batch(shim, seen) -> None:
    with pytest.raises(BatchFailure) as info:
        shim.eventhub([hub_event(b"ok", 1), hub_event(b"fail-2", 2), hub_event(b"ok", 3)])
    assert info.value.failed == ["2"]
    assert [s["id"] for s in seen] == ["1", "2", "3"]


def test_eventhub_batch_decoded_by_the_worker_converter(shim, seen) -> None:
    sys_props = [{"SequenceNumber": 10 + i, "Offset": str(i), "PartitionKey": "p",
                  "EnqueuedTimeUtc": "2026-11-22T10:00:00Z"} for i in range(2)]
    meta = {
        "SystemPropertiesArray": Datum(json.dumps(sys_props), "json"),
        "PropertiesArray": Datum(json.dumps([{"tenant": "acme"}, {"tenant": "globex"}]), "json"),
    }
    data = Datum(SimpleNamespace(string=["first", "second"]), "collection_string")
    events = EventHubTriggerConverter.decode(data, trigger_metadata=meta)
    assert isinstance(events, list) and len(events) == 2
    shim.eventhub(events)
    assert [(s["id"], s["text"], s["sequence"]) for s in seen] == [("10", "first", "10"), ("11", "second", "11")]
    assert [s["attributes"] for s in seen] == [{"tenant": "acme"}, {"tenant": "globex"}]


def test_eventhub_single_event_decoded_by_the_worker_converter(shim, seen) -> None:
    meta = {
        "SystemProperties": Datum(json.dumps({"SequenceNumber": 77, "PartitionKey": "p"}), "json"),
        "SequenceNumber": Datum("77", "string"),
        "PartitionKey": Datum("p", "string"),
        "Offset": Datum("4096", "string"),
        "EnqueuedTimeUtc": Datum("2026-11-22T10:00:00Z", "string"),
        "Properties": Datum(json.dumps({"tenant": "acme"}), "json"),
    }
    event = EventHubTriggerConverter.decode(Datum(b"single", "bytes"), trigger_metadata=meta)
    assert isinstance(event, func.EventHubEvent)
    shim.eventhub(event)
    assert [(s["id"], s["text"], s["partition_key"], s["attributes"]) for s in seen] == [
        ("77", "single", "p", {"tenant": "acme"})]


def test_eventhub_exception_reraises(shim, seen) -> None:
    with pytest.raises(RuntimeError, match="batch handler failed"):
        shim.eventhub([hub_event(b"crash", 1)])


def test_timer(shim, seen) -> None:
    shim.timer(TimerRequest(past_due=True))
    [record] = seen
    assert record["type"] == "io.multicloud.schedule.fired" and record["name"] == "orders"
    when = dt.datetime.fromisoformat(record["time"])
    assert abs((dt.datetime.now(dt.timezone.utc) - when).total_seconds()) < 5


def test_blob(shim, seen) -> None:
    stream = InputStream(data=b"x" * 42, name="uploads/photos/été 1.jpg",
                         uri="https://acct.blob.core.windows.net/uploads/photos/%C3%A9t%C3%A9%201.jpg",
                         length=42, blob_properties={"ETag": "0x8DC", "ContentType": "image/jpeg"})
    shim.blob(stream)
    assert seen == [{"kind": "storage", "type": "io.multicloud.storage.object.created", "bucket": "uploads",
                     "key": "photos/été 1.jpg", "size": 42, "change": "created", "etag": "0x8DC"}]
    with pytest.raises(RuntimeError):
        shim.blob(InputStream(data=b"", name="uploads/crash", length=0))


def test_invocation_context_and_limits_from_the_environment(monkeypatch, log_lines) -> None:
    monkeypatch.setenv("MULTICLOUD_MEMORY_MB", "2048")
    monkeypatch.setenv("MULTICLOUD_TIMEOUT_MS", "30000")
    shim = AzureShim("portable_handler.handler", "orders")
    ctx = shim._context(SimpleNamespace(invocation_id="inv-42"))
    assert (ctx.request_id, ctx.memory_limit_mb, ctx.target) == ("inv-42", 2048, "azure")
    assert 29_000 < ctx.remaining_time_ms() <= 30_000


def test_queue_message_and_failure_means_retry(shim, seen) -> None:
    shim.queue(func.QueueMessage(id="q-1", body=b"order-1", pop_receipt="r"))
    with pytest.raises(BatchFailure):
        shim.queue(func.QueueMessage(id="q-2", body="fail-2", pop_receipt="r"))
    assert [(s["id"], s["text"], s["type"]) for s in seen] == [
        ("q-1", "order-1", "io.multicloud.queue.messages"), ("q-2", "fail-2", "io.multicloud.queue.messages")]
