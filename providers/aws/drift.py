"""Drift on aws: the shared record (multicloud/drift.py) stored with the deployment.

The record lives in the function's `multicloud:fingerprints` tags (`get_function` returns them with no
extra call, so any machine sees them), split over `multicloud:fingerprints:2`... when long, and in the
local state cache, which serves when the function itself is gone. The `live` alias records the version
multicloud set in its own description (see `function.py`). The resources recorded per function:
execution and scheduler roles and their inline policies, permissions, Function URL, HTTP API, schedules,
event source mappings, S3 notifications, dead-letter queues and redrive policies.
"""

from __future__ import annotations

from collections.abc import Mapping

from multicloud import drift as core
from multicloud.drift import Drift, Resources, check

TAG = "multicloud:fingerprints"
PER_TAG = 18  # entries of 13 characters + a space in one tag value (AWS allows 256 characters)

__all__ = ["PER_TAG", "TAG", "Drift", "Record", "Resources", "check", "stored"]


class Record(core.Record):
    """The shared record, stored as the function's tags."""

    @classmethod
    def of(cls, tags: Mapping[str, str] | None, cached: object) -> Record:
        """From the function's tags, else (function gone, or tagged before records) the state cache."""
        text = " ".join(v for k, v in sorted(stored(tags or {}).items())) or str(cached or "")
        return cls(core.Record.parse(text).recorded)

    @classmethod
    def tags_of(cls, entries: Mapping[str, list[object]]) -> dict[str, str]:
        """`multicloud:fingerprints`, then `multicloud:fingerprints:2`... for long records."""
        parts = cls.value_of(entries).split()
        chunks = [" ".join(parts[i:i + PER_TAG]) for i in range(0, len(parts), PER_TAG)]
        return {TAG if n == 0 else f"{TAG}:{n + 1}": chunk for n, chunk in enumerate(chunks)}

    def tags(self) -> dict[str, str]:
        return self.tags_of(self.entries)


def stored(tags: Mapping[str, str]) -> dict[str, str]:
    """The record's tags among a resource's tags."""
    return {k: v for k, v in tags.items() if k == TAG or k.startswith(TAG + ":")}
