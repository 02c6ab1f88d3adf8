"""The examples' handlers run on the portable event model (through the runtime's own dispatch)."""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

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


def test_clinic_logs_a_keyed_pseudonym_never_the_patient(monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    clinic = load(EXAMPLES / "hybrid-clinic" / "clinic.py")
    monkeypatch.setenv("RECORDS_KEY", "k1")
    event = http_event("GET", "/records/42", path_params={"patient": "42"})
    result = handle_http(clinic.records, event.http, make_context("records", target="docker"))
    assert result.status == 200
    assert json.loads(result.body) == {"patient": "42", "allergies": [], "served_by": "docker"}
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["patient_ref"] == hmac.new(b"k1", b"42", hashlib.sha256).hexdigest()[:16]
    assert "42" not in line.values()
    monkeypatch.setenv("RECORDS_KEY", "k2")  # another key, another pseudonym: it is keyed, not a plain hash
    handle_http(clinic.records, event.http, make_context("records", target="docker"))
    assert json.loads(capsys.readouterr().err.strip().splitlines()[-1])["patient_ref"] != line["patient_ref"]
    slots = handle_http(clinic.slots, http_event("GET", "/slots").http, make_context("slots", target="aws"))
    assert json.loads(slots.body)["served_by"] == "aws"


def test_bring_your_own_runs_the_lambda_handler_and_the_flask_app_unchanged(monkeypatch) -> None:
    """The example's existing code through the runtime's style adapters, as every target loads it."""
    from multicloud.runtime.invoke import load_handler

    monkeypatch.syspath_prepend(str(EXAMPLES / "bring-your-own"))
    orders = load_handler("legacy.orders", style="aws", routes=("/orders/{id}",))
    result = handle_http(orders, http_event("GET", "/orders/7", query={"x": ["1"]}).http, make_context("orders"))
    assert json.loads(result.body) == {"order": "7", "by": "orders", "query": {"x": "1"}}
    assert result.cookies == ["last-order=7"]
    fulfil = load_handler("legacy.fulfil", style="aws")
    batch = queue_event({"sku": "a"}, {"no": "sku"})
    assert handle_event(fulfil, batch, make_context("fulfil")) == [batch.messages[1].id]
    web = load_handler("web.app", style="wsgi")
    hello = handle_http(web, http_event("GET", "/web/hello", query={"name": ["Ada"]}).http, make_context("web"))
    assert json.loads(hello.body) == {"message": "Hello, Ada!"}
