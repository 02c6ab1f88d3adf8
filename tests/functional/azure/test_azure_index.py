"""Index the generated function_app.py the way the Azure Python worker does and check each binding.

Real library, no host: `azure.functions` 1.26 builds the function JSON the host would receive, and its
converter registry (the one the worker uses) accepts or rejects each parameter annotation.
"""

from __future__ import annotations

from types import ModuleType

import pytest
from azure_worker_index import index


@pytest.fixture(scope="module")
def functions(app_module: ModuleType) -> dict:  # type: ignore[type-arg]
    return index(app_module)


def test_one_register_and_every_trigger_indexed(functions: dict) -> None:  # type: ignore[type-arg]
    assert sorted(functions) == sorted([
        "api-http", "api-http-2", "api-http-3", "worker-queue", "worker-stream", "worker-storage",
        "worker-schedule", "nightly"])
    for f in functions.values():
        assert f.json["scriptFile"] == "function_app.py"


def test_http_bindings(functions: dict) -> None:  # type: ignore[type-arg]
    orders = functions["api-http"].json["bindings"]
    assert orders[0] == {"direction": "IN", "type": "httpTrigger", "name": "req", "methods": ["GET", "POST"],
                         "authLevel": "ANONYMOUS", "route": "orders/{id}"}
    assert orders[1] == {"direction": "OUT", "type": "http", "name": "$return"}
    admin = functions["api-http-2"].trigger
    assert (admin["authLevel"], admin["route"], admin["methods"]) == ("FUNCTION", "admin/{*rest}", ["DELETE"])
    assert functions["api-http-3"].trigger["route"] == "{_root:maxlength(0)?}"


def test_event_bindings(functions: dict) -> None:  # type: ignore[type-arg]
    assert functions["worker-stream"].trigger == {
        "direction": "IN", "type": "eventHubTrigger", "name": "events", "connection": "CLICKS_HUB",
        "eventHubName": "clicks", "consumerGroup": "analytics", "cardinality": "MANY"}
    assert functions["worker-queue"].trigger == {
        "direction": "IN", "type": "queueTrigger", "name": "msg", "queueName": "orders-in",
        "connection": "AzureWebJobsStorage"}
    assert functions["worker-storage"].trigger == {
        "direction": "IN", "type": "blobTrigger", "name": "blob", "path": "uploads/incoming/{name}.csv",
        "connection": "AzureWebJobsStorage", "source": "EventGrid"}
    assert functions["worker-schedule"].trigger == {
        "direction": "IN", "type": "timerTrigger", "name": "timer", "schedule": "0 */5 * * * *",
        "runOnStartup": False}
    assert functions["nightly"].trigger["schedule"] == "0 30 2 * * 1-5"


def test_the_worker_rejects_a_wrong_annotation() -> None:
    """The index helper is not a rubber stamp: a mismatched annotation fails like it does in the worker."""
    import azure.functions as func

    bad = ModuleType("bad_app")
    app = func.FunctionApp()

    @app.function_name(name="x")
    @app.event_hub_message_trigger(arg_name="events", event_hub_name="h", connection="C",
                                   cardinality=func.Cardinality.MANY)
    def x(events: func.QueueMessage) -> None:
        return None

    bad.app = app  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError, match="does not fit eventHubTrigger"):
        index(bad)
    bad.other = func.FunctionApp()  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError, match="exactly one FunctionRegister"):
        index(bad)
