"""The GCP shim served by functions-framework (create_app + its Flask test client), with CloudEvents
built by the cloudevents SDK in binary and structured mode, cross-checked with google-events types."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import functions_framework
import pytest
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent
from google.events.cloud.pubsub_v1 import MessagePublishedData
from google.events.cloud.storage_v1 import StorageObjectData

ENTRY = str(Path(__file__).with_name("gcp_entry.py"))


@pytest.fixture(scope="module")
def http_client():
    return functions_framework.create_app(target="http_entry", source=ENTRY, signature_type="http").test_client()


@pytest.fixture(scope="module")
def event_client():
    app = functions_framework.create_app(target="event_entry", source=ENTRY, signature_type="cloudevent")
    return app.test_client()


def test_http_request_view(http_client) -> None:
    # the Werkzeug test client sends its own cookie jar as the Cookie header
    http_client.set_cookie("session", "abc")
    http_client.set_cookie("theme", "dark")
    resp = http_client.post(
        "/orders/7?a=1&a=2&q=x%20y", json={"test": "body"},
        headers={"X-Forwarded-For": "203.0.113.9, 10.0.0.1",
                 "X-Case-Test": "ok", "X-Multi": "one", "Function-Execution-Id": "exec-1"},
    )
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    seen = resp.get_json()
    assert seen["method"] == "POST" and seen["path"] == "/orders/7"
    assert seen["query"] == {"a": ["1", "2"], "q": ["x y"]}
    assert seen["path_params"] == {"id": "7"}
    assert seen["client_ip"] == "203.0.113.9"
    assert seen["cookies"] == {"session": "abc", "theme": "dark"}
    assert seen["json"] == {"test": "body"} and seen["x_case"] == "ok"
    assert seen["target"] == "gcp" and seen["function"] == "orders"


def test_http_binary_text_cookies(http_client) -> None:
    binary = http_client.get("/binary")
    assert binary.data == bytes(range(256)) and binary.mimetype == "application/octet-stream"
    text = http_client.get("/text")
    assert text.get_data(as_text=True) == "plain text ✓"
    assert text.headers["Content-Type"] == "text/plain; charset=utf-8"
    resp = http_client.get("/response")
    assert resp.status_code == 201 and resp.headers["X-Custom"] == "yes"
    assert resp.headers.getlist("Set-Cookie") == ["session=abc; Path=/; HttpOnly", "theme=dark; Path=/"]
    upload = http_client.post("/upload", data=bytes(range(256)) * 3,
                              headers={"Content-Type": "application/octet-stream"})
    assert upload.data == bytes(range(256)) * 3


def test_http_exception_is_generic_500(http_client, log_lines) -> None:
    resp = http_client.get("/boom", headers={"Function-Execution-Id": "exec-boom"})
    assert resp.status_code == 500 and b"hunter2" not in resp.data and b"Traceback" not in resp.data
    record = [r for r in log_lines() if r.get("request_id") == "exec-boom"][-1]
    assert "hunter2" in record["traceback"]


def storage_event(kind: str, name: str) -> CloudEvent:
    data = {"bucket": "uploads", "name": name, "size": "1024", "etag": "CKih16GjycICEAE=",
            "contentType": "image/jpeg", "generation": "1587627537231057", "kind": "storage#object"}
    return CloudEvent({
        "type": f"google.cloud.storage.object.v1.{kind}",
        "source": "//storage.googleapis.com/projects/_/buckets/uploads",
        "subject": f"objects/{name}", "id": f"ce-{kind}-1", "time": "2026-11-22T10:00:00Z",
    }, data)


@pytest.mark.parametrize("mode", [to_binary, to_structured])
def test_cloud_storage_finalized_and_deleted(event_client, seen, mode) -> None:
    for kind in ("finalized", "deleted"):
        ce = storage_event(kind, "photos/été 1.jpg")
        headers, body = mode(ce)
        assert event_client.post("/", headers=headers, data=body).status_code == 200
    typed = StorageObjectData.from_json(json.dumps(storage_event("finalized", "photos/été 1.jpg").data),
                                        ignore_unknown_fields=True)
    assert seen == [
        {"kind": "storage", "type": "io.multicloud.storage.object.created", "bucket": typed.bucket,
         "key": typed.name, "size": typed.size, "change": "created", "etag": typed.etag},
        {"kind": "storage", "type": "io.multicloud.storage.object.deleted", "bucket": "uploads",
         "key": "photos/été 1.jpg", "size": 1024, "change": "deleted", "etag": "CKih16GjycICEAE="},
    ]


def pubsub_event(text: str, msg_id: str = "msg-1") -> CloudEvent:
    data = {"message": {"data": base64.b64encode(text.encode()).decode(), "attributes": {"tenant": "acme"},
                        "messageId": msg_id, "publishTime": "2026-11-22T10:00:00.123Z", "orderingKey": "k1"},
            "subscription": "projects/p/subscriptions/s"}
    return CloudEvent({"type": "google.cloud.pubsub.topic.v1.messagePublished",
                       "source": "//pubsub.googleapis.com/projects/p/topics/orders", "id": msg_id}, data)


@pytest.mark.parametrize("mode", [to_binary, to_structured])
def test_pubsub_message(event_client, seen, mode) -> None:
    ce = pubsub_event("order-1")
    headers, body = mode(ce)
    assert event_client.post("/", headers=headers, data=body).status_code == 200
    typed = MessagePublishedData.from_json(json.dumps(ce.data), ignore_unknown_fields=True)
    assert seen == [{"kind": "queue", "type": "io.multicloud.queue.messages", "id": typed.message.message_id,
                     "text": typed.message.data.decode(), "attributes": dict(typed.message.attributes),
                     "partition_key": "k1", "sequence": None}]


def test_pubsub_failure_and_crash_make_the_platform_redeliver(event_client, seen) -> None:
    for text in ("fail-2", "crash"):
        headers, body = to_binary(pubsub_event(text, f"m-{text}"))
        assert event_client.post("/", headers=headers, data=body).status_code == 500
    assert [s["id"] for s in seen] == ["m-fail-2", "m-crash"]


def test_scheduler_payload_over_pubsub(event_client, seen) -> None:
    payload = json.dumps({"multicloud.schedule": {"name": "nightly", "time": "2026-11-22T03:00:00Z"}})
    headers, body = to_structured(pubsub_event(payload))
    assert event_client.post("/", headers=headers, data=body).status_code == 200
    assert seen == [{"kind": "schedule", "type": "io.multicloud.schedule.fired",
                     "time": "2026-11-22T03:00:00+00:00", "name": "nightly"}]


def test_scheduler_payload_without_time_uses_the_publish_time(event_client, seen) -> None:
    # the shape the GCP target's Cloud Scheduler job publishes: a name, and the publish time as due time
    headers, body = to_binary(pubsub_event(json.dumps({"multicloud.schedule": {"name": "hourly"}})))
    assert event_client.post("/", headers=headers, data=body).status_code == 200
    assert seen == [{"kind": "schedule", "type": "io.multicloud.schedule.fired",
                     "time": "2026-11-22T10:00:00.123000+00:00", "name": "hourly"}]


def test_other_event_types_reach_the_handler_as_direct(event_client, seen) -> None:
    ce = CloudEvent({"type": "com.example.custom", "source": "//example", "id": "x-1", "tenant": "acme"},
                    {"k": "v"})
    headers, body = to_structured(ce)
    assert event_client.post("/", headers=headers, data=body).status_code == 200
    assert seen == [{"kind": "direct", "type": "com.example.custom", "data": {"k": "v"},
                     "extensions": {"tenant": "acme"}}]
