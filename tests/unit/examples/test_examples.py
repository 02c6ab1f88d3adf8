"""The examples' handlers run on the portable event model (through the runtime's own dispatch)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

from multicloud.runtime.invoke import handle_event, handle_http
from multicloud.runtime.testing import http_event, make_context, queue_event, schedule_event, storage_event

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{path.parent.name}_{path.stem}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_hello_http() -> None:
    hello = load(EXAMPLES / "hello-http" / "handler.py").hello
    result = handle_http(hello, http_event("GET", "/hello", query={"name": ["Ada"]}).http, make_context("hello"))
    assert result.status == 200
    assert json.loads(result.body)["message"] == "Hello, Ada!"
    posted = handle_http(hello, http_event("POST", "/hello", json={"name": "Lin"}).http, make_context("hello"))
    assert json.loads(posted.body)["message"] == "Hello, Lin!"


def test_orders_every_trigger_kind() -> None:
    orders = load(EXAMPLES / "orders" / "orders.py")
    created = handle_http(orders.api, http_event("POST", "/orders", json={"sku": "A-1"}).http, make_context("api"))
    assert created.status == 201 and json.loads(created.body)["sku"] == "A-1"
    bad = handle_http(orders.api, http_event("POST", "/orders", json={}).http, make_context("api"))
    assert bad.status == 400
    failed = handle_event(orders.fulfil, queue_event({"sku": "A"}, "not json", {"nosku": 1}), make_context("fulfil"))
    assert failed == ["2", "3"]
    assert handle_event(orders.imports, storage_event("orders-uploads", "incoming/a.csv", size=3),
                        make_context("imports")) == []
    assert handle_event(orders.report, schedule_event(), make_context("report")) == []
