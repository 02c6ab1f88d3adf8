"""The same handler module, the same request, three clouds: the handler sees the same thing everywhere."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import azure.functions as func
import functions_framework
import pytest
from azure.functions.blob import InputStream
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent
from runtime_samples import aws_event

from multicloud.runtime.aws import entry
from multicloud.runtime.azure import AzureShim

QUERY = "a=1&a=2&q=x%20y%2B"
BODY = {"order": 7, "note": "été"}


@pytest.fixture(scope="module")
def clouds():
    gcp_app = functions_framework.create_app(
        target="http_entry", source=str(Path(__file__).with_name("gcp_entry.py")), signature_type="http")
    return entry("portable_handler.handler", "orders"), AzureShim("portable_handler.handler", "orders"), \
        gcp_app.test_client()


def aws_view(lam, path: str) -> tuple[int, dict[str, str], bytes]:
    event = aws_event("apigw-http-api-v2.json")
    event.update(rawPath=path, rawQueryString=QUERY, cookies=["session=abc"], isBase64Encoded=True,
                 headers={"content-type": "application/json", "x-case-test": "ok", "x-multi": "one"},
                 body=base64.b64encode(json.dumps(BODY).encode()).decode(),
                 pathParameters={"id": "7"})
    event["requestContext"]["http"].update(method="POST", path=path, sourceIp="203.0.113.9")
    out = lam(event, None)
    body = base64.b64decode(out["body"]) if out["isBase64Encoded"] else out["body"].encode()
    return out["statusCode"], out["headers"], body


def azure_view(shim, path: str) -> tuple[int, dict[str, str], bytes]:
    req = func.HttpRequest("POST", f"https://orders.azurewebsites.net{path}?{QUERY}",
                           headers={"Content-Type": "application/json", "X-Case-Test": "ok", "X-Multi": "one",
                                    "Cookie": "session=abc", "X-Forwarded-For": "203.0.113.9:4711"},
                           route_params={"id": "7"}, body=json.dumps(BODY).encode())
    resp = shim.http(req)
    return resp.status_code, {k.lower(): v for k, v in resp.headers.items()}, resp.get_body()


def gcp_view(client, path: str) -> tuple[int, dict[str, str], bytes]:
    client.set_cookie("session", "abc")
    resp = client.post(f"{path}?{QUERY}", data=json.dumps(BODY),
                       headers={"Content-Type": "application/json", "X-Case-Test": "ok", "X-Multi": "one",
                                "X-Forwarded-For": "203.0.113.9"})
    return resp.status_code, {k.lower(): v for k, v in resp.headers.items()}, resp.data


@pytest.mark.parametrize("path", ["/orders/7", "/orders/7/binary", "/orders/7/text", "/orders/7/boom"])
def test_http_is_the_same_on_every_cloud(clouds, path) -> None:
    lam, shim, client = clouds
    views = {"aws": aws_view(lam, path), "azure": azure_view(shim, path), "gcp": gcp_view(client, path)}
    statuses = {cloud: v[0] for cloud, v in views.items()}
    types = {cloud: v[1]["content-type"] for cloud, v in views.items()}
    assert len(set(statuses.values())) == 1, statuses
    assert len(set(types.values())) == 1, types
    bodies = {}
    for cloud, (_, _, body) in views.items():
        if types["aws"] == "application/json":
            parsed = json.loads(body)
            if isinstance(parsed, dict):
                parsed.pop("target", None)
            bodies[cloud] = parsed
        else:
            bodies[cloud] = body
    assert bodies["aws"] == bodies["azure"] == bodies["gcp"]
    if path == "/orders/7":
        assert bodies["aws"]["query"] == {"a": ["1", "2"], "q": ["x y+"]}
        assert bodies["aws"]["json"] == BODY and bodies["aws"]["cookies"] == {"session": "abc"}
        assert bodies["aws"]["path_params"] == {"id": "7"} and bodies["aws"]["client_ip"] == "203.0.113.9"


def test_storage_and_queue_events_are_the_same_on_every_cloud(clouds, seen) -> None:
    lam, shim, _ = clouds
    gcp_events = functions_framework.create_app(
        target="event_entry", source=str(Path(__file__).with_name("gcp_entry.py")),
        signature_type="cloudevent").test_client()
    key = "photos/été 1.jpg"

    s3 = aws_event("s3-put.json")
    s3["Records"][0]["s3"]["object"].update(key="photos/%C3%A9t%C3%A9+1.jpg", size=42, eTag="e1")
    s3["Records"][0]["s3"]["bucket"]["name"] = "uploads"
    lam(s3, None)
    shim.blob(InputStream(data=b"x" * 42, name=f"uploads/{key}", length=42, blob_properties={"ETag": "e1"}))
    ce = CloudEvent({"type": "google.cloud.storage.object.v1.finalized", "source": "//storage", "id": "1"},
                    {"bucket": "uploads", "name": key, "size": "42", "etag": "e1"})
    headers, body = to_binary(ce)
    assert gcp_events.post("/", headers=headers, data=body).status_code == 200
    assert len(seen) == 3 and seen[0] == seen[1] == seen[2]

    seen.clear()
    sqs = aws_event("sqs-receive-message.json")
    sqs["Records"][0]["body"] = "order-1"
    lam(sqs, None)
    shim.queue(func.QueueMessage(id="q", body=b"order-1"))
    ps = CloudEvent({"type": "google.cloud.pubsub.topic.v1.messagePublished", "source": "//pubsub", "id": "2"},
                    {"message": {"data": base64.b64encode(b"order-1").decode(), "messageId": "p"}})
    headers, body = to_binary(ps)
    assert gcp_events.post("/", headers=headers, data=body).status_code == 200
    assert [(s["kind"], s["type"], s["text"]) for s in seen] == [("queue", "io.multicloud.queue.messages",
                                                                  "order-1")] * 3
