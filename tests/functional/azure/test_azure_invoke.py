"""Invoke every generated function with the worker's own `azure.functions` types.

The functions come from indexing the built zip (as the worker does) and run the sample's user handler
through `multicloud.runtime.azure.AzureShim`: the same handler the other targets run. The Event Hubs
batch also goes through `EventHubTriggerConverter.decode`, the worker's conversion of the host's payload.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from types import ModuleType, SimpleNamespace
from typing import Any

import azure.functions as func
import pytest
from azure.functions import meta
from azure.functions.blob import InputStream
from azure.functions.eventhub import EventHubTriggerConverter
from azure.functions.timer import TimerRequest
from azure_worker_index import Indexed, index


@pytest.fixture(scope="module")
def functions(app_module: ModuleType) -> dict[str, Indexed]:
    return index(app_module)


@pytest.fixture()
def calls(app_module: ModuleType) -> list[dict[str, Any]]:
    recorded: list[dict[str, Any]] = sys.modules["handler"].CALLS
    recorded.clear()
    return recorded


def ctx(name: str) -> Any:
    return SimpleNamespace(invocation_id=f"inv-{name}", function_name=name, function_directory="/home/site/wwwroot",
                           trace_context=None, retry_context=None, thread_local_storage=None)


def test_http_route_params_query_and_body(functions: dict[str, Indexed]) -> None:
    req = func.HttpRequest("POST", "https://orders.azurewebsites.net/orders/42?expand=items&expand=notes",
                           headers={"content-type": "text/plain", "x-forwarded-for": "203.0.113.9:5555"},
                           params={"expand": "notes"}, route_params={"id": "42"}, body=b"hello")
    resp = functions["api-http"].function(req, ctx("api-http"))
    assert isinstance(resp, func.HttpResponse) and resp.status_code == 200
    data = json.loads(resp.get_body())
    assert data == {"kind": "http", "method": "POST", "path": "/orders/42", "params": {"id": "42"},
                    "query": {"expand": ["items", "notes"]}, "body": "hello", "function": "api"}
    assert resp.mimetype == "application/json"


def test_http_root_route(functions: dict[str, Indexed]) -> None:
    resp = functions["api-http-3"].function(func.HttpRequest("GET", "https://orders.azurewebsites.net/", body=b""),
                                            ctx("api-http-3"))
    assert resp.status_code == 200 and json.loads(resp.get_body())["path"] == "/"


def test_eventhub_batch_of_events(functions: dict[str, Indexed], calls: list[dict[str, Any]]) -> None:
    now = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
    events = [func.EventHubEvent(body=b'{"click": 1}', enqueued_time=now, partition_key="p1", sequence_number=7,
                                 offset="100"),
              func.EventHubEvent(body=b"plain", enqueued_time=now, partition_key="p1", sequence_number=8,
                                 offset="200")]
    functions["worker-stream"].function(events, ctx("worker-stream"))
    assert calls == [{"kind": "stream", "type": "io.multicloud.stream.records", "bodies": ['{"click": 1}', "plain"]}]


def test_eventhub_through_the_worker_converter(functions: dict[str, Indexed], calls: list[dict[str, Any]]) -> None:
    props = [{"EnqueuedTimeUtc": "2026-11-22T12:00:00Z", "SequenceNumber": n, "Offset": str(n * 100),
              "PartitionKey": "p"} for n in (1, 2)]
    data = meta.Datum(type="collection_bytes", value=SimpleNamespace(bytes=[b"first", b"second"]))
    decoded = EventHubTriggerConverter.decode(
        data, trigger_metadata={"SystemPropertiesArray": meta.Datum(json.dumps(props), "json")})
    assert isinstance(decoded, list) and len(decoded) == 2
    functions["worker-stream"].function(decoded, ctx("worker-stream"))
    assert calls[-1]["bodies"] == ["first", "second"]


def test_timer(functions: dict[str, Indexed], calls: list[dict[str, Any]]) -> None:
    functions["worker-schedule"].function(TimerRequest(past_due=True), ctx("worker-schedule"))
    functions["nightly"].function(TimerRequest(), ctx("nightly"))
    assert [c["type"] for c in calls] == ["io.multicloud.schedule.fired"] * 2


def test_blob(functions: dict[str, Indexed], calls: list[dict[str, Any]]) -> None:
    stream = InputStream(data=b"a,b\n1,2\n", name="uploads/incoming/report.csv",
                         uri="https://acct.blob.core.windows.net/uploads/incoming/report.csv", length=8)
    functions["worker-storage"].function(stream, ctx("worker-storage"))
    assert calls == [{"kind": "storage", "type": "io.multicloud.storage.object.created",
                      "key": "incoming/report.csv", "bucket": "uploads"}]


def test_queue(functions: dict[str, Indexed], calls: list[dict[str, Any]]) -> None:
    msg = func.QueueMessage(id="m-1", body=b'{"order": 42}', pop_receipt="r")
    functions["worker-queue"].function(msg, ctx("worker-queue"))
    assert calls == [{"kind": "queue", "type": "io.multicloud.queue.messages", "bodies": ['{"order": 42}']}]
