"""The trigger kinds, defined once as data: every list of kinds elsewhere derives from this table.

`batch`: the function receives a batch of messages (queues and streams: partial batch responses, dead
letters). `event`: the event arrives through a broker or notification rather than a request (what a
private target's broker carries). The `Literal` types beside it (spec.models `TriggerKind`,
provider `TriggerKindOrDirect`) are checked against the table by tests/unit/spec/test_trigger_kinds.py.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    name: str
    batch: bool  # messages arrive in batches (queue, stream)
    event: bool  # carried by a broker or a notification (queue, stream, storage)
    summary: str


KINDS: tuple[Kind, ...] = (
    Kind("http", batch=False, event=False, summary="an HTTP request on a route"),
    Kind("schedule", batch=False, event=False, summary="a rate or cron schedule"),
    Kind("queue", batch=True, event=True, summary="messages from a queue"),
    Kind("stream", batch=True, event=True, summary="records from a stream"),
    Kind("storage", batch=False, event=True, summary="an object created or deleted in a bucket"),
)
NAMES: tuple[str, ...] = tuple(k.name for k in KINDS)
BATCH: tuple[str, ...] = tuple(k.name for k in KINDS if k.batch)
EVENT: tuple[str, ...] = tuple(k.name for k in KINDS if k.event)
DIRECT = "direct"  # not a trigger: `invoke --trigger direct` calls the function with a raw payload
