"""CloudEvents over HTTP (structured and binary mode) -> the portable `Event`, for `POST /_events/<fn>`.

Structured mode: `Content-Type: application/cloudevents+json`, the whole event is the JSON body (`data`
or `data_base64`). Binary mode: attributes in `ce-*` headers, the body is `data`, `Content-Type` is
`datacontenttype`. The `io.multicloud.*` type selects the typed view; the data shapes per type are in
docs/private-runtime.md. Any other type arrives as a `direct` event carrying its own type and data.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone

from multicloud.runtime.events import KIND_OF_TYPE, Event, Message, ScheduleInfo, StorageObject
from multicloud.runtime.server_config import RuntimeConfig
from multicloud.runtime.server_request import HttpError, Request

REQUIRED = ("id", "source", "type")
ATTRIBUTES = ("specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema")
STRUCTURED = "application/cloudevents+json"


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "application/json").split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def parse_cloudevent(request: Request) -> Event:
    content_type = request.header("content-type") or ""
    if content_type.split(";", 1)[0].strip().lower() == STRUCTURED:
        try:
            doc = json.loads(request.body)
        except ValueError:
            raise HttpError(400, "structured CloudEvent body is not JSON") from None
        if not isinstance(doc, dict):
            raise HttpError(400, "structured CloudEvent must be a JSON object")
        attrs = {k: v for k, v in doc.items() if k not in ("data", "data_base64")}
        if "data_base64" in doc:
            try:
                data: object = base64.b64decode(str(doc["data_base64"]), validate=True)
            except ValueError:
                raise HttpError(400, "data_base64 is not base64") from None
        else:
            data = doc.get("data")
    else:
        attrs = {k[3:]: v for k, v in request.headers if k.startswith("ce-")}
        if not attrs:
            raise HttpError(400, "not a CloudEvent: send ce-* headers (binary mode) or "
                                 "Content-Type: application/cloudevents+json (structured mode)")
        if content_type:
            attrs["datacontenttype"] = content_type
        data = request.body
        if request.body and _is_json(content_type):
            try:
                data = json.loads(request.body)
            except ValueError:
                raise HttpError(400, "CloudEvent data is declared JSON but does not parse") from None
    if str(attrs.get("specversion", "")) != "1.0":
        raise HttpError(400, "CloudEvent specversion must be 1.0")
    missing = [a for a in REQUIRED if not attrs.get(a)]
    if missing:
        raise HttpError(400, f"CloudEvent is missing {', '.join(missing)}")
    return to_event({k: str(v) if k in ATTRIBUTES else v for k, v in attrs.items()}, data)


def _messages(data: object) -> list[Message]:
    items = data.get("messages", data.get("records")) if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise HttpError(400, "queue/stream event data must be {\"messages\": [...]}")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise HttpError(400, f"message {i} must be an object")
        if "body_base64" in item:
            body = base64.b64decode(str(item["body_base64"]))
        else:
            raw = item.get("body", "")
            body = raw.encode() if isinstance(raw, str) else json.dumps(raw).encode()
        attributes = item.get("attributes") or {}
        out.append(Message(
            str(item.get("id", i)), body,
            attributes={str(k): str(v) for k, v in attributes.items()} if isinstance(attributes, dict) else {},
            partition_key=item.get("partition_key"),
            sequence=None if item.get("sequence") is None else str(item["sequence"]),
            time=item.get("time"),
            raw=item,
        ))
    return out


def _time(text: object) -> datetime:
    if isinstance(text, str):
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise HttpError(400, f"bad time {text!r}: use RFC 3339") from None
    return datetime.now(timezone.utc)


def to_event(attrs: dict[str, object], data: object) -> Event:
    ce_type = str(attrs["type"])
    kind = KIND_OF_TYPE.get(ce_type, "direct")
    if kind == "http":
        raise HttpError(400, "HTTP requests go to the function's route, not to the events endpoint")
    common = dict(
        id=str(attrs["id"]), source=str(attrs["source"]), type=ce_type,
        subject=attrs.get("subject"), time=attrs.get("time"),
        datacontenttype=attrs.get("datacontenttype"), data=data,
        extensions={k: v for k, v in attrs.items() if k not in ATTRIBUTES},
    )
    if kind in ("queue", "stream"):
        return Event(kind, messages=_messages(data), **common)  # type: ignore[arg-type]
    if kind == "storage":
        if not isinstance(data, dict) or "bucket" not in data or "key" not in data:
            raise HttpError(400, "storage event data must be {\"bucket\": ..., \"key\": ...}")
        obj = StorageObject(
            str(data["bucket"]), str(data["key"]), ce_type.rsplit(".", 1)[1],
            size=int(data["size"]) if data.get("size") is not None else None,
            etag=data.get("etag"), content_type=data.get("content_type"), raw=data,
        )
        return Event("storage", storage=obj, **common)  # type: ignore[arg-type]
    if kind == "schedule":
        info = data if isinstance(data, dict) else {}
        when = _time(info.get("time", attrs.get("time")))
        schedule = ScheduleInfo(when, info.get("name"), past_due=bool(info.get("past_due", False)))
        return Event("schedule", schedule=schedule, **common)  # type: ignore[arg-type]
    return Event("direct", **common)  # type: ignore[arg-type]


def storage_notifications(request: Request, config: RuntimeConfig, function: str) -> list[Event] | None:
    """The storage events of an S3-format bucket notification POSTed as plain JSON (MinIO's or Ceph RGW's
    webhook), kept to the records `function`'s storage triggers accept; None when the request is not one
    (a CloudEvent, or anything else, which parse_cloudevent judges)."""
    from multicloud.runtime import s3_records

    content_type = (request.header("content-type") or "").split(";", 1)[0].strip().lower()
    if content_type != "application/json" or any(k.startswith("ce-") for k, _ in request.headers):
        return None
    try:
        doc = json.loads(request.body)
    except ValueError:
        return None
    if not s3_records.is_notification(doc):
        return None
    try:
        events = s3_records.to_events(doc, source_prefix=f"/{config.target}/{config.service}/buckets")
    except s3_records.NotARecord as exc:
        raise HttpError(400, str(exc)) from None
    subs = [s for s in (config.broker.subscriptions if config.broker else ()) if s.function == function
            and s.kind == "storage"]
    return [e for e in events for s in subs
            if e.storage.bucket == s.name and s3_records.matches(e, s.events, s.prefix, s.suffix)]
