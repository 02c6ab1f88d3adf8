"""invoke, logs, status and remove on Cloud Functions.

HTTP functions get the request as is (an identity token when private). Event functions get a generated
CloudEvent in binary mode (`ce-*` headers), shaped like what Eventarc delivers for their trigger (Cloud
Storage object data, a Pub/Sub push envelope with base64 data), or the caller's own `event` payload.
Logs come from Cloud Logging's `entries:list` for the function's Cloud Run service.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from multicloud.errors import MulticloudError, OperationError, UsageError
from multicloud.provider import (
    FunctionStatus,
    InvokeRequest,
    InvokeResult,
    LogRecord,
    Progress,
    RemoveResult,
    StatusReport,
    no_progress,
)
from multicloud.state import clear_state

from .apply import OPERATION_TIMEOUT_S
from .deployed import Deployed
from .model import DIRECT_EVENT_TYPE, PUBSUB_EVENT_TYPE, SCHEDULE_HEADER, CloudFunction, topic_path
from .resources import SOURCE_LABEL, schedule_event

FOLLOW_INTERVAL_S = 2.0


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sample_event(cf: CloudFunction, location: str, project_id: str,
                 payload: dict[str, object] | None) -> tuple[dict[str, str], object]:
    """CloudEvent attributes and data for a function's trigger (the caller's payload as data if given)."""
    et = cf.event_trigger
    attrs = {"id": uuid.uuid4().hex, "specversion": "1.0", "time": _now()}
    if et is not None and et.bucket is not None:
        name = f"{et.prefix}multicloud-invoke{et.suffix or '.txt'}"
        data: object = payload or {"bucket": et.bucket, "name": name, "size": "0", "generation": "1",
                                   "contentType": "text/plain", "timeCreated": attrs["time"],
                                   "updated": attrs["time"], "kind": "storage#object"}
        attrs.update(type=et.event_type, subject=f"objects/{name}",
                     source=f"//storage.googleapis.com/projects/_/buckets/{et.bucket}")
    elif et is not None and et.event_type == PUBSUB_EVENT_TYPE:
        topic = topic_path(et.topic or "", project_id)
        body = json.dumps(payload).encode() if payload is not None else b'{"hello": "from multicloud invoke"}'
        data = {"message": {"data": base64.b64encode(body).decode(), "messageId": attrs["id"],
                            "publishTime": attrs["time"], "attributes": {}},
                "subscription": f"projects/{project_id}/subscriptions/multicloud-invoke"}
        attrs.update(type=PUBSUB_EVENT_TYPE, source=f"//pubsub.googleapis.com/{topic}")
    elif cf.schedules:
        event = schedule_event(location, cf.schedules[0])
        data = payload or event.pop("data")
        attrs.update({k: v for k, v in event.items() if k not in ("data", "datacontenttype", "id")})
    else:
        data = payload or {}
        attrs.update(type=DIRECT_EVENT_TYPE, source=f"//multicloud/invoke/{cf.function_id}")
    return attrs, data


def invoke(deployer: Deployed, request: InvokeRequest) -> InvokeResult:
    import requests

    cf = next((f for f in deployer.functions if f.function == request.function), None)
    if cf is None:
        names = ", ".join(f.function for f in deployer.functions) or "none"
        raise UsageError(f"no function {request.function!r} on target gcp", fix=f"use one of: {names}")
    current = deployer.get_function(cf)
    url = (current or {}).get("service_config", {}).get("uri") or (current or {}).get("url")
    if not url:
        raise OperationError(f"{cf.function_id} is not deployed", fix="run `multicloud deploy --target gcp`")
    headers = dict(request.headers)
    token = deployer.clients.identity_token(url)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if request.trigger == "schedule" and cf.schedules:
        # exactly what the Cloud Scheduler job sends
        job = cf.schedules[0]
        headers.update({"Content-Type": "application/cloudevents+json", SCHEDULE_HEADER: job.job_id})
        event = schedule_event(deployer.clients.location, job)
        method, path, body, params = "POST", "/", json.dumps(event).encode(), {}
    elif cf.signature == "http":
        method, path, body, params = request.method, request.path or "/", request.body, request.query
    else:
        attrs, data = sample_event(cf, deployer.clients.location, deployer.clients.project_id, request.event)
        headers.update({f"ce-{k}": v for k, v in attrs.items()})
        headers["Content-Type"] = "application/json"
        method, path, body, params = "POST", "/", json.dumps(data).encode(), {}
    started = time.monotonic()
    try:
        response = requests.request(method, url.rstrip("/") + path, params=params, data=body, headers=headers,
                                    timeout=cf.timeout_s + 10)
    except requests.RequestException as exc:
        raise OperationError(f"calling {cf.function_id} failed: {exc}", fix="check the function URL and network",
                             where=url) from exc
    ms = (time.monotonic() - started) * 1000
    ok = response.status_code < 400
    return InvokeResult(cf.function, ok, response.status_code, dict(response.headers), response.content,
                        None if ok else f"HTTP {response.status_code}", ms)


def logs(deployer: Deployed, function: str | None, since: datetime | None, follow: bool) -> Iterator[LogRecord]:
    functions = [f for f in deployer.functions if function is None or f.function == function]
    if not functions:
        raise UsageError(f"no function {function!r} on target gcp")
    by_service = {f.function_id: f.function for f in functions}
    services = " OR ".join(f'resource.labels.service_name="{s}"' for s in by_service)
    start = (since or datetime(1970, 1, 1, tzinfo=timezone.utc)).astimezone(timezone.utc)
    seen: set[str] = set()
    while True:
        flt = (f'resource.type="cloud_run_revision" AND ({services}) AND '
               f'timestamp>="{start.strftime("%Y-%m-%dT%H:%M:%S")}Z"')
        body: dict[str, Any] = {"resourceNames": [f"projects/{deployer.clients.project_id}"], "filter": flt,
                                "orderBy": "timestamp asc", "pageSize": 1000}
        data = deployer.clients.rest("POST", "logging", "v2/entries:list", body)
        for entry in data.get("entries", []):
            key = entry.get("insertId") or json.dumps(entry, sort_keys=True)
            if key in seen:
                continue
            seen.add(key)
            service = entry.get("resource", {}).get("labels", {}).get("service_name", "")
            message = entry.get("textPayload") or json.dumps(entry.get("jsonPayload", {}), sort_keys=True)
            yield LogRecord(_parse_time(entry.get("timestamp")), by_service.get(service, service), message)
        if not follow:
            return
        time.sleep(FOLLOW_INTERVAL_S)


def _parse_time(value: object) -> datetime:
    text = str(value or "")
    try:
        head, _, frac = text.rstrip("Z").partition(".")
        parsed = datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
        return parsed.replace(microsecond=int((frac + "000000")[:6]) if frac else 0)
    except ValueError:
        return datetime.now(timezone.utc)


# ---- status and remove -------------------------------------------------------------------------------
def status(d: Deployed) -> StatusReport:
    out = []
    for cf in d.functions:
        current = d.get_function(cf)
        if current is None:
            out.append(FunctionStatus(cf.function, "missing"))
            continue
        messages = "; ".join(m.get("message", "") for m in current.get("state_messages", []))
        out.append(FunctionStatus(
            cf.function, str(current.get("state", "UNKNOWN")).lower(),
            version=current.get("labels", {}).get(SOURCE_LABEL),
            endpoint=current.get("service_config", {}).get("uri") or current.get("url") or None,
            detail=messages,
        ))
    deployed = any(f.state != "missing" for f in out)
    return StatusReport("gcp", deployed, tuple(out),
                        {"project": d.clients.project_id, "region": d.clients.region})


def remove(d: Deployed, progress: Progress = no_progress) -> RemoveResult:
    removed: list[str] = []
    for job in d.owned_jobs():
        progress(f"gcp: deleting scheduler job {job['name']}")
        d.clients.scheduler.delete_job(name=job["name"])
        removed.append(job["name"])
    owned = d.owned_functions()
    try:
        queues = any(cf.event_trigger is not None and cf.event_trigger.topic for cf in d.functions)
    except MulticloudError:  # a spec gcp cannot map any more: go by what is deployed
        queues = False
    if queues or any((f.get("event_trigger") or {}).get("pubsub_topic") for f in owned):
        removed += d.pubsub.delete(set(), progress)  # the dead letters go with the service
    for fn in owned:
        progress(f"gcp: deleting {fn['name']}")
        d.clients.functions.delete_function(name=fn["name"]).result(timeout=OPERATION_TIMEOUT_S)
        removed.append(fn["name"])
    clear_state(d.project, "gcp")
    return RemoveResult("gcp", tuple(removed))
