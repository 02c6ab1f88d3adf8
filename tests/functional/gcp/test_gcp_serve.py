"""The generated main.py served by the real functions-framework (`create_app` -> Flask test client).

Requests and CloudEvents (binary and structured mode, built with the cloudevents SDK) go through the
framework's own decoding into `multicloud.runtime.gcp.GcpShim` and the sample handlers; decoded data is
cross-checked with Google's own event types (google-events). Nothing here is mocked.
"""

from __future__ import annotations

import base64
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import functions_framework
import pytest
from cloudevents.http import CloudEvent, to_binary, to_structured
from google.events.cloud.pubsub_v1 import MessagePublishedData
from google.events.cloud.storage_v1 import StorageObjectData

from multicloud.project import Project
from multicloud.provider import BuildResult
from multicloud.providers.gcp.model import SCHEDULE_MARKER, cloud_functions, settings_of
from multicloud.providers.gcp.resources import desired_job, schedule_event
from multicloud.runtime import events as runtime_events

BUCKET = "shop-uploads"


@pytest.fixture
def source(built: BuildResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The deployed zip, unpacked as the platform does; env vars as the function would get them."""
    root = tmp_path / "workspace"
    zipfile.ZipFile(built.artifacts[0].path).extractall(root)
    monkeypatch.setenv("GREETING", "hello")
    monkeypatch.setenv("API_KEY", "value-from-secret-manager")
    monkeypatch.syspath_prepend(str(root))
    yield root / "main.py"
    sys.modules.pop("gcp_shop_handlers", None)


def _app(source: Path, target: str, signature: str) -> Any:
    app = functions_framework.create_app(target=target, source=str(source), signature_type=signature)
    return app.test_client()


def _seen() -> list[dict[str, Any]]:
    return sys.modules["gcp_shop_handlers"].SEEN  # type: ignore[no-any-return]


def _storage_object(name: str, size: int = 1234) -> dict[str, Any]:
    return {"kind": "storage#object", "id": f"{BUCKET}/{name}/1700000000000000", "name": name, "bucket": BUCKET,
            "generation": "1700000000000000", "metageneration": "1", "contentType": "text/csv",
            "timeCreated": "2026-11-22T10:00:00.000Z", "updated": "2026-11-22T10:00:00.000Z",
            "storageClass": "STANDARD", "size": str(size), "md5Hash": "XrY7u+Ae7tCTyyK7j1rNww==",
            "etag": "CKih16GjycICEAE=", "crc32c": "AAAAAA=="}


def _post(client: Any, event: CloudEvent, mode: str) -> Any:
    headers, body = (to_binary if mode == "binary" else to_structured)(event)
    return client.post("/", headers=headers, data=body)


def test_http_get_reaches_the_handler_with_route_query_and_env(source: Path) -> None:
    client = _app(source, "api", "http")
    resp = client.get("/orders/42?x=1&x=2&y=z", headers={"X-Cloud-Trace-Context": "abc/1;o=1"})
    assert resp.status_code == 200
    assert resp.get_json() == {"function": "api", "target": "gcp", "path": "/orders/42",
                               "path_params": {"id": "42"}, "query": {"x": ["1", "2"], "y": ["z"]},
                               "greeting": "hello", "api_key_set": True, "kind": "http"}


def test_http_post_returns_status_headers_and_binary_body(source: Path) -> None:
    client = _app(source, "api", "http")
    payload = bytes(range(256))
    resp = client.post("/orders/7", data=payload, headers={"X-Echo": "yes", "Content-Type": "application/octet-stream"})
    assert (resp.status_code, resp.headers["X-Echo"], resp.data) == (201, "yes", payload)


@pytest.mark.parametrize("mode", ["binary", "structured"])
@pytest.mark.parametrize("event_type, target, kind", [
    ("google.cloud.storage.object.v1.finalized", "uploads", "created"),
    ("google.cloud.storage.object.v1.deleted", "uploads_gone", "deleted"),
])
def test_cloud_storage_events(source: Path, mode: str, event_type: str, target: str, kind: str) -> None:
    client = _app(source, target, "cloudevent")
    data = _storage_object("incoming/2026/orders.csv")
    event = CloudEvent({"type": event_type, "source": f"//storage.googleapis.com/projects/_/buckets/{BUCKET}",
                        "subject": "objects/incoming/2026/orders.csv", "id": "9001"}, data)
    assert _post(client, event, mode).status_code == 200
    google_view = StorageObjectData.from_json(json.dumps(data), ignore_unknown_fields=True)
    assert _seen()[-1] == {"function": target, "kind": "storage", "type": f"io.multicloud.storage.object.{kind}",
                           "bucket": google_view.bucket, "key": google_view.name, "size": google_view.size,
                           "content_type": google_view.content_type}


def test_storage_prefix_and_suffix_are_applied_by_main_py(source: Path) -> None:
    client = _app(source, "uploads", "cloudevent")
    before = len(_seen())
    for name in ("other/orders.csv", "incoming/orders.json"):
        event = CloudEvent({"type": "google.cloud.storage.object.v1.finalized", "id": name,
                            "source": f"//storage.googleapis.com/projects/_/buckets/{BUCKET}"}, _storage_object(name))
        assert _post(client, event, "binary").status_code == 200
    assert len(_seen()) == before


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_pubsub_message_published_with_base64_data(source: Path, mode: str) -> None:
    client = _app(source, "orders", "cloudevent")
    body = json.dumps({"order": 17, "note": "ünïcode"}).encode()
    data = {"message": {"data": base64.b64encode(body).decode(), "messageId": "m-17",
                        "publishTime": "2026-11-22T10:00:00.000Z", "attributes": {"origin": "web"}},
            "subscription": "projects/shop-test-1/subscriptions/eventarc-orders"}
    event = CloudEvent({"type": "google.cloud.pubsub.topic.v1.messagePublished", "id": "m-17",
                        "source": "//pubsub.googleapis.com/projects/shop-test-1/topics/orders"}, data)
    assert _post(client, event, mode).status_code == 200
    google_view = MessagePublishedData.from_json(json.dumps(data), ignore_unknown_fields=True)
    assert _seen()[-1] == {"function": "orders", "kind": "queue", "messages": [
        {"id": google_view.message.message_id, "body": google_view.message.data.decode(),
         "attributes": dict(google_view.message.attributes)}]}


def test_scheduler_job_body_fires_a_schedule_event(service_dir: Path, source: Path) -> None:
    """The exact structured CloudEvent the Cloud Scheduler job is configured to POST."""
    project = Project.load(service_dir)
    nightly = next(cf for cf in cloud_functions(project) if cf.function == "nightly")
    event = schedule_event("projects/shop-test-1/locations/europe-west1", nightly.schedules[0])
    client = _app(source, "nightly", "cloudevent")
    resp = client.post("/", data=json.dumps(event), headers={"Content-Type": "application/cloudevents+json"})
    assert resp.status_code == 200
    assert _seen()[-1] == {"function": "nightly", "kind": "schedule", "name": "shop-nightly-0"}


def test_scheduler_job_request_to_an_http_function_is_a_schedule_event(service_dir: Path, source: Path) -> None:
    """The http function `api` also has a schedule: its job's exact request (headers and body)."""
    project = Project.load(service_dir)
    api = next(cf for cf in cloud_functions(project) if cf.function == "api")
    job = desired_job(api, api.schedules[0], settings_of(project), "projects/p/locations/r", "shop", "https://x")
    client = _app(source, "api", "http")
    resp = client.post("/", data=job["http_target"]["body"], headers=job["http_target"]["headers"])
    assert resp.status_code == 204
    assert _seen()[-1] == {"function": "api", "kind": "schedule", "name": "shop-api-0"}
    # an ordinary POST to the same function is still plain HTTP
    assert client.post("/orders/1", data=b"x").status_code == 201


def test_direct_event_reaches_a_function_without_triggers(source: Path) -> None:
    client = _app(source, "class_", "cloudevent")
    event = CloudEvent({"type": "io.multicloud.direct", "source": "//multicloud/invoke", "id": "d1"}, {"a": 1})
    assert _post(client, event, "structured").status_code == 200
    assert _seen()[-1] == {"function": "class", "kind": "direct", "type": "io.multicloud.direct", "data": {"a": 1}}


def test_schedule_marker_matches_the_runtime() -> None:
    assert runtime_events.SCHEDULE_MARKER == SCHEDULE_MARKER
