"""S3-format bucket notifications (MinIO, Ceph RGW) -> portable storage events. Stdlib only.

MinIO publishes one JSON document per object event, to NATS (a subject per target) or to a webhook (a
POST with `Content-Type: application/json`, `Authorization: Bearer <token>` when one is set); both carry
the same body (MinIO's `event.Log`): `{"EventName": "s3:ObjectCreated:Put", "Key": "bucket/key",
"Records": [<one S3 event record>]}`. Ceph RGW's HTTP push sends `{"Records": [...]}` with
`eventName: "ObjectCreated:Put"` (no `s3:` prefix) and sizes as numbers or strings. Object keys in records
are URL-encoded (`+` for a space), as in Amazon S3's own notifications.
"""

from __future__ import annotations

from multicloud.runtime.events import Event, StorageObject

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable


class NotARecord(ValueError):
    """The document is not an S3 bucket notification."""


def is_notification(doc: object) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("Records"), list)


def kind_of(event_name: str) -> str | None:
    """created / deleted for an S3 event name (`s3:ObjectCreated:Put`, `ObjectRemoved:Delete`...), else None."""
    name = event_name[3:] if event_name.startswith("s3:") else event_name
    if name.startswith("ObjectCreated"):
        return "created"
    if name.startswith("ObjectRemoved"):
        return "deleted"
    return None


def _size(value: object) -> int | None:
    try:
        return int(value) if value is not None and value != "" else None  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def to_events(doc: object, *, source_prefix: str = "s3") -> list[Event]:
    """One storage event per created/removed record (other S3 events, e.g. s3:ObjectAccessed, are skipped)."""
    from urllib.parse import unquote_plus

    if not is_notification(doc):
        raise NotARecord("an S3 bucket notification is a JSON object with a `Records` list")
    assert isinstance(doc, dict)
    out = []
    for i, record in enumerate(doc["Records"]):
        try:
            s3 = record["s3"]
            bucket, obj = str(s3["bucket"]["name"]), s3["object"]
            raw_key = str(obj["key"])
            event_name = str(record.get("eventName", ""))
        except (KeyError, TypeError) as exc:
            raise NotARecord(f"record {i} has no s3.bucket.name / s3.object.key") from exc
        kind = kind_of(event_name)
        if kind is None:
            continue
        key = unquote_plus(raw_key)
        storage = StorageObject(bucket, key, kind, size=_size(obj.get("size")), etag=obj.get("eTag") or None,
                                content_type=obj.get("contentType") or None, raw=record)
        event_id = str(obj.get("sequencer") or "") or f"{bucket}/{key}@{record.get('eventTime', '')}"
        out.append(Event("storage", id=event_id, source=f"{source_prefix}:{bucket}", subject=key,
                         time=record.get("eventTime"), data=record, storage=storage))
    return out


def matches(event: Event, kinds: Iterable[str], prefix: str, suffix: str) -> bool:
    """The storage trigger's filter: event kinds, key prefix and suffix."""
    obj = event.storage
    return obj.kind in kinds and obj.key.startswith(prefix) and obj.key.endswith(suffix)
