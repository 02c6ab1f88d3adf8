"""Invoke a deployed function the way callers reach it on Azure.

* http: the function's URL on the app's host; `auth: key` routes get the host's default function key
  in `x-functions-key` (read through ARM, never stored).
* stream: events sent to the hub with azure-eventhub's producer client, using the app's own Event Hubs
  connection (connection string setting, or identity-based `<name>__fullyQualifiedNamespace`).
* schedule, queue, storage: the host's admin endpoint (`POST /admin/functions/<name>` with the master
  key and `{"input": ...}`), Azure's documented way to run a non-HTTP function by hand.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

from multicloud.errors import OperationError, UnsupportedError, UsageError
from multicloud.provider import InvokeRequest, InvokeResult
from multicloud.spec.models import HttpTrigger, StreamTrigger

from .app import app_model
from .arm import ArmSession, get_or_none

TIMEOUT_S = 240  # a little over the 230 s the front end allows an HTTP response


def _site(s: ArmSession) -> Any:
    site = get_or_none(s.web.web_apps.get, s.resource_group, s.app_name)
    if site is None:
        raise OperationError(f"function app {s.app_name} does not exist", fix="run `multicloud deploy --target azure`",
                             where=f"azure: {s.resource_group}/{s.app_name}")
    return site


def invoke(s: ArmSession, request: InvokeRequest) -> InvokeResult:
    fn = s.project.function("azure", request.function)
    if request.trigger == "http":
        return _http(s, request, [t.config for t in fn.triggers if isinstance(t.config, HttpTrigger)])
    if request.trigger == "stream":
        streams = [t.config for t in fn.triggers if isinstance(t.config, StreamTrigger)]
        if not streams:
            raise UsageError(f"function {fn.name!r} has no stream trigger", fix="pick the trigger it has")
        return _eventhub(s, request, streams[0])
    if request.trigger == "direct":
        raise UnsupportedError("Azure functions always run through a trigger; there is no direct invoke",
                               fix="invoke one of the function's triggers (--trigger http|schedule|queue|...)")
    names = [f.name for f in app_model(s.project).functions
             if f.spec_function == fn.name and f.kind == request.trigger]
    if not names:
        raise UsageError(f"function {fn.name!r} has no {request.trigger} trigger", fix="pick the trigger it has")
    return _admin(s, request, names[0])


def _send(method: str, url: str, headers: dict[str, str], body: bytes) -> tuple[Any, float]:
    import requests

    start = time.perf_counter()
    try:
        response = requests.request(method, url, headers=headers, data=body, timeout=TIMEOUT_S,
                                    allow_redirects=False)
    except requests.RequestException as exc:
        raise OperationError(f"calling {url.split('?')[0]} failed: {exc.__class__.__name__}",
                             fix="check that the app is running (`multicloud status --target azure`)",
                             where=f"azure: {method} {url.split('?')[0]}") from exc
    return response, (time.perf_counter() - start) * 1000


def _http(s: ArmSession, request: InvokeRequest, triggers: list[HttpTrigger]) -> InvokeResult:
    if not triggers:
        raise UsageError(f"function {request.function!r} has no http trigger", fix="use --trigger with its kind")
    path = request.path or triggers[0].path
    if "{" in path:
        raise UsageError(f"route {path} has parameters", fix="pass a concrete path, e.g. --path /orders/42")
    site = _site(s)
    headers = dict(request.headers)
    if any(t.auth == "key" for t in triggers):
        keys = s.web.web_apps.list_host_keys(s.resource_group, s.app_name)
        headers["x-functions-key"] = str((keys.function_keys or {}).get("default", ""))
    query = urlencode([(k, v) for k, vs in request.query.items() for v in vs])
    url = f"https://{site.default_host_name}{path}" + (f"?{query}" if query else "")
    response, ms = _send(request.method, url, headers, request.body)
    return InvokeResult(request.function, response.status_code < 500, response.status_code,
                        {k.lower(): v for k, v in response.headers.items()}, response.content,
                        None if response.status_code < 500 else f"HTTP {response.status_code}", ms)


def _admin(s: ArmSession, request: InvokeRequest, azure_name: str) -> InvokeResult:
    site = _site(s)
    master = s.web.web_apps.list_host_keys(s.resource_group, s.app_name).master_key
    event = request.event if request.event is not None else {}
    payload = event.get("input") if isinstance(event, dict) and "input" in event else (
        request.body.decode() if request.body else json.dumps(event) if event else "")
    url = f"https://{site.default_host_name}/admin/functions/{azure_name}"
    response, ms = _send("POST", url, {"x-functions-key": str(master), "Content-Type": "application/json"},
                         json.dumps({"input": payload}).encode())
    ok = response.status_code in (200, 202, 204)
    return InvokeResult(request.function, ok, response.status_code, {}, response.content,
                        None if ok else f"the host answered HTTP {response.status_code}", ms)


def event_bodies(request: InvokeRequest) -> list[bytes]:
    """The events to send: `event["records"]` (each JSON-encoded unless bytes/str), else one event."""
    event = request.event
    if event is None:
        return [request.body or b"{}"]
    records = event.get("records") if isinstance(event, dict) else None
    items = records if isinstance(records, list) else [event]
    return [i if isinstance(i, bytes) else i.encode() if isinstance(i, str) else json.dumps(i).encode()
            for i in items]


def _eventhub(s: ArmSession, request: InvokeRequest, trigger: StreamTrigger) -> InvokeResult:
    from azure.eventhub import EventData
    from azure.eventhub.exceptions import EventHubError

    from .messages import eventhub_producer

    producer = eventhub_producer(s, trigger.name)
    bodies = event_bodies(request)
    start = time.perf_counter()
    try:
        with producer:
            batch = producer.create_batch()
            for body in bodies:
                batch.add(EventData(body))
            producer.send_batch(batch)
    except EventHubError as exc:
        raise OperationError(f"sending {len(bodies)} events to hub {trigger.name} failed: {exc.message}",
                             fix="check the hub name, the connection setting and network access to Event Hubs",
                             where=f"azure: event hub {trigger.name}") from exc
    ms = (time.perf_counter() - start) * 1000
    return InvokeResult(request.function, True, None, {}, f"sent {len(bodies)} events".encode(), None, ms)
