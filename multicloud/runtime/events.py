"""The portable event: CloudEvents 1.0 attributes plus one typed view per trigger kind.

Shims build an `Event` from their platform's payload; handlers read `event.http`, `event.storage`,
`event.messages` or `event.schedule`. The kind -> CloudEvents type table below is the one place that
names the types (the private server and the tests derive the reverse map from it).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime

    from multicloud.runtime.http import HttpRequest

EVENT_TYPES: dict[str, str] = {
    "http": "io.multicloud.http.request",
    "storage.created": "io.multicloud.storage.object.created",
    "storage.deleted": "io.multicloud.storage.object.deleted",
    "queue": "io.multicloud.queue.messages",
    "stream": "io.multicloud.stream.records",
    "schedule": "io.multicloud.schedule.fired",
    "direct": "io.multicloud.direct",
}
KIND_OF_TYPE: dict[str, str] = {t: k.split(".", 1)[0] for k, t in EVENT_TYPES.items()}
KINDS = ("http", "storage", "queue", "stream", "schedule", "direct")


class Message:
    """One queue message or stream record. `id` is what `BatchResult(failed=[...])` names."""

    __slots__ = ("id", "body", "attributes", "partition_key", "sequence", "time", "raw")

    def __init__(
        self,
        id: str,
        body: bytes,
        *,
        attributes: dict[str, str] | None = None,
        partition_key: str | None = None,
        sequence: str | None = None,
        time: str | None = None,
        raw: object = None,
    ) -> None:
        self.id = id
        self.body = body
        self.attributes = attributes or {}
        self.partition_key = partition_key
        self.sequence = sequence
        self.time = time
        self.raw = raw

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> object:
        import json

        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"Message(id={self.id!r}, {len(self.body)} bytes)"


class StorageObject:
    """An object that was created or deleted in a bucket/container. `key` is URL-decoded."""

    __slots__ = ("bucket", "key", "size", "etag", "kind", "content_type", "raw")

    def __init__(
        self,
        bucket: str,
        key: str,
        kind: str,
        *,
        size: int | None = None,
        etag: str | None = None,
        content_type: str | None = None,
        raw: object = None,
    ) -> None:
        if kind not in ("created", "deleted"):
            raise ValueError(f"storage kind must be 'created' or 'deleted', not {kind!r}")
        self.bucket = bucket
        self.key = key
        self.kind = kind
        self.size = size
        self.etag = etag
        self.content_type = content_type
        self.raw = raw

    def __repr__(self) -> str:
        return f"StorageObject({self.kind} {self.bucket}/{self.key})"


class ScheduleInfo:
    """A scheduled firing: `time` is when it was due (timezone-aware UTC), `name` the schedule's name."""

    __slots__ = ("time", "name", "past_due")

    def __init__(self, time: datetime, name: str | None = None, *, past_due: bool = False) -> None:
        self.time = time
        self.name = name
        self.past_due = past_due

    def __repr__(self) -> str:
        return f"ScheduleInfo({self.time.isoformat()}, {self.name!r})"


class Event:
    """A CloudEvents 1.0 event with a typed view for its trigger kind.

    `id, source, type, subject, time, datacontenttype, data, extensions` are the CloudEvents
    attributes (`time` as an RFC 3339 string). `kind` is one of http, storage, queue, stream, schedule,
    direct; the view for another kind raises `AttributeError` with a clear message.
    """

    __slots__ = (
        "id", "source", "type", "subject", "time", "datacontenttype", "data", "extensions", "kind",
        "_http", "_storage", "_messages", "_schedule",
    )
    specversion = "1.0"

    def __init__(
        self,
        kind: str,
        *,
        id: str,
        source: str,
        type: str | None = None,
        subject: str | None = None,
        time: str | None = None,
        datacontenttype: str | None = None,
        data: object = None,
        extensions: dict[str, object] | None = None,
        http: HttpRequest | None = None,
        storage: StorageObject | None = None,
        messages: list[Message] | None = None,
        schedule: ScheduleInfo | None = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown event kind {kind!r}; one of {', '.join(KINDS)}")
        self.kind = kind
        self.id = id
        self.source = source
        if type is None:
            type = EVENT_TYPES[f"storage.{storage.kind}" if storage is not None else kind]
        self.type = type
        self.subject = subject
        self.time = time
        self.datacontenttype = datacontenttype
        self.data = data
        self.extensions = extensions or {}
        self._http = http
        self._storage = storage
        self._messages = messages
        self._schedule = schedule

    def _view(self, value: object, name: str, kind: str) -> object:
        if value is None:
            raise AttributeError(f"event.{name} exists on {kind} events; this one is a {self.kind} event")
        return value

    @property
    def http(self) -> HttpRequest:
        return self._view(self._http, "http", "http")  # type: ignore[return-value]

    @property
    def storage(self) -> StorageObject:
        return self._view(self._storage, "storage", "storage")  # type: ignore[return-value]

    @property
    def messages(self) -> list[Message]:
        return self._view(self._messages, "messages", "queue and stream")  # type: ignore[return-value]

    @property
    def schedule(self) -> ScheduleInfo:
        return self._view(self._schedule, "schedule", "schedule")  # type: ignore[return-value]

    def attributes(self) -> dict[str, object]:
        """The CloudEvents context attributes (without data), for logging or forwarding."""
        attrs: dict[str, object] = {"specversion": "1.0", "id": self.id, "source": self.source,
                                    "type": self.type}
        for name in ("subject", "time", "datacontenttype"):
            value = getattr(self, name)
            if value is not None:
                attrs[name] = value
        attrs.update(self.extensions)
        return attrs

    def __repr__(self) -> str:
        return f"Event({self.type}, id={self.id!r})"


class BatchResult:
    """Return it from a queue/stream handler to report partial failure: only `failed` ids are retried."""

    __slots__ = ("failed",)

    def __init__(self, failed: list[str] | tuple[str, ...] = ()) -> None:
        self.failed = [str(i) for i in failed]

    def __repr__(self) -> str:
        return f"BatchResult(failed={self.failed!r})"


#: a scheduler that can only send a fixed payload (EventBridge Scheduler, Cloud Scheduler -> Pub/Sub or
#: HTTP) sends {SCHEDULE_MARKER: {"name": ..., "time": RFC 3339}} and the shims turn it into a schedule
SCHEDULE_MARKER = "multicloud.schedule"


def parse_time(value: str | float | int | None) -> datetime:
    """RFC 3339 text or epoch seconds -> aware UTC datetime (now when missing or unparseable)."""
    from datetime import datetime, timezone

    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, timezone.utc)
    if value:
        text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
        if "." in text:  # Python 3.10 accepts only 3 or 6 fraction digits
            head, _, tail = text.partition(".")
            digits = tail
            for i, c in enumerate(tail):
                if not c.isdigit():
                    digits = tail[:i]
                    break
            zone = tail[len(digits):]
            text = f"{head}.{(digits + '000000')[:6]}{zone}"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                return parsed.replace(tzinfo=timezone.utc)
            return parsed.astimezone(timezone.utc)
    return datetime.now(timezone.utc)
