"""Deploy, invoke and read logs end to end, with the deployed zip really running.

The control plane is the FAKE of the Google REST APIs (fake_gcp.py, not Google). With `serve=True` the
fake unpacks each uploaded zip and starts it with the real functions-framework server on 127.0.0.1,
injecting env vars and Secret Manager values as the platform does, and turns its output into Cloud
Logging entries. So `invoke` runs the vendored runtime and the generated main.py from the artifact,
not from this checkout.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fake_gcp import FakeGoogleCloud
from gcp_e2e_kit import SERVICE, Deployment, open_fake

from multicloud.provider import InvokeRequest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeGoogleCloud, Deployment]]:
    monkeypatch = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("served") / "shop"
    shutil.copytree(SERVICE, root)
    try:
        with open_fake(monkeypatch, serve=True) as cloud:
            shop = Deployment(root)
            shop.deploy()
            yield cloud, shop
    finally:
        monkeypatch.undo()


def _seen(shop: Deployment, function: str) -> list[dict[str, object]]:
    records = list(shop.provider.logs(function, None, False))
    return [json.loads(r.message.split("seen ", 1)[1]) for r in records if "seen " in r.message]


def test_http_invoke_runs_the_deployed_artifact_with_env_and_secrets(served: tuple[FakeGoogleCloud,
                                                                                    Deployment]) -> None:
    fake, shop = served
    result = shop.provider.invoke(InvokeRequest("api", method="GET", path="/orders/5", query={"q": ["1"]}))
    assert result.ok and result.status == 200
    body = json.loads(result.body)
    assert body == {"function": "api", "target": "gcp", "path": "/orders/5", "path_params": {"id": "5"},
                    "query": {"q": ["1"]}, "greeting": "hello", "api_key_set": True, "kind": "http"}
    # the code that answered is the unpacked artifact, not this checkout
    workdirs = [str(w) for _p, w in fake.processes.values()]
    assert any((Path(w) / "multicloud" / "runtime" / "gcp.py").is_file() for w in workdirs)


def test_http_post_round_trips_bytes(served: tuple[FakeGoogleCloud, Deployment]) -> None:
    _fake, shop = served
    result = shop.provider.invoke(InvokeRequest("api", method="POST", path="/orders/9", body=b"\x00\xffpayload",
                                                headers={"X-Echo": "e"}))
    assert (result.status, result.headers.get("X-Echo"), result.body) == (201, "e", b"\x00\xffpayload")


@pytest.mark.parametrize("function, expected", [
    ("uploads", {"kind": "storage", "type": "io.multicloud.storage.object.created", "bucket": "shop-uploads",
                 "key": "incoming/multicloud-invoke.csv"}),
    ("uploads_gone", {"kind": "storage", "type": "io.multicloud.storage.object.deleted",
                      "bucket": "shop-uploads", "key": "multicloud-invoke.txt"}),
    ("orders", {"kind": "queue"}),
    ("nightly", {"kind": "schedule", "name": "shop-nightly-0"}),
    ("class", {"kind": "direct", "type": "io.multicloud.direct", "data": {"x": 1}}),
])
def test_event_functions_get_a_generated_cloudevent_and_log_what_they_saw(
        served: tuple[FakeGoogleCloud, Deployment], function: str, expected: dict[str, object]) -> None:
    _fake, shop = served
    payload = {"x": 1} if function == "class" else None
    result = shop.provider.invoke(InvokeRequest(function, trigger="direct", event=payload))
    assert result.ok, result.body
    for _ in range(50):  # the log pump reads the process output asynchronously
        seen = _seen(shop, function)
        if seen:
            break
        time.sleep(0.1)
    last = seen[-1]
    assert {k: last[k] for k in expected} == expected
    if function == "orders":
        (message,) = last["messages"]  # type: ignore[misc]
        assert json.loads(message["body"]) == {"hello": "from multicloud invoke"}


def test_invoking_the_schedule_of_an_http_function(served: tuple[FakeGoogleCloud, Deployment]) -> None:
    _fake, shop = served
    result = shop.provider.invoke(InvokeRequest("api", trigger="schedule"))
    assert result.ok and result.status == 204
    for _ in range(50):
        seen = [s for s in _seen(shop, "api") if s.get("kind") == "schedule"]
        if seen:
            break
        time.sleep(0.1)
    assert seen[-1] == {"function": "api", "kind": "schedule", "name": "shop-api-0"}


def test_logs_are_per_function(served: tuple[FakeGoogleCloud, Deployment]) -> None:
    _fake, shop = served
    shop.provider.invoke(InvokeRequest("class", trigger="direct", event={"marker": "only-class"}))
    time.sleep(0.5)
    class_logs = " ".join(r.message for r in shop.provider.logs("class", None, False))
    api_logs = " ".join(r.message for r in shop.provider.logs("api", None, False))
    assert "only-class" in class_logs and "only-class" not in api_logs
    assert all(r.function == "class" for r in shop.provider.logs("class", None, False))


def test_logs_since_and_follow(served: tuple[FakeGoogleCloud, Deployment]) -> None:
    _fake, shop = served
    future = datetime.now(timezone.utc) + timedelta(hours=1)
    assert list(shop.provider.logs("api", future, False)) == []
    shop.provider.invoke(InvokeRequest("api", path="/orders/1"))
    follow = shop.provider.logs(None, datetime.now(timezone.utc) - timedelta(minutes=5), True)
    first = next(follow)  # follow yields what exists, then keeps polling
    follow.close()
    assert first.function in {"api", "uploads", "uploads_gone", "orders", "nightly", "class"}
