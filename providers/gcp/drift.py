"""Drift on gcp: the shared record (multicloud/drift.py) stored with the deployment on Google Cloud.

The record and the rule are the shared ones: one `<id>=<content>` fingerprint per recorded item, and a
difference is drift when the item is recorded and the target no longer matches its record. Here an item
is one managed field of a function (`service_config.available_memory`, `labels`...), its invokers, or one
of its Scheduler jobs (recorded as present), so a plan can name the fields changed by hand beside those
the spec changed, in one line. What gcp adds is where the record lives:

* a Cloud Function's labels `multicloud-record`, `multicloud-record-2`...: label values allow only
  lowercase letters, digits, `_` and `-` (63 at most), so each entry is written as its twelve lowercase
  hex digits without the `=`, five entries per label;
* a Scheduler job (no labels) keeps its own fields' record at the end of its description, after
  ` record=`, in the shared text form;
* `.multicloud/state/gcp.json` keeps a copy of each function's record, for when the function is gone.

Only field names are ever shown, never values (env values, secret references). A deployment whose
record is in an older layout (or absent) has no record: nothing is called drift, and the next deploy
writes one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from multicloud import drift as core

LABEL = "multicloud-record"  # then multicloud-record-2, ...
ENTRY = 12  # hex digits per entry: six of the id, six of the content
PER_LABEL = 5  # 60 of a label value's 63 characters
JOB_RECORD = " record="  # what precedes a job's record in its description
FUNCTION, JOB = "cloud function", "scheduler job"  # the record's kinds
_HEX = re.compile(r"^(?:[0-9a-f]{12})+$")


def is_record_label(key: str) -> bool:
    return key == LABEL or key.startswith(LABEL + "-")


class Record(core.Record):
    """The shared record, stored in a function's labels or a job's description."""

    @classmethod
    def of_text(cls, text: str | None) -> Record:
        return cls(core.Record.parse(text or "").recorded)

    @classmethod
    def of_labels(cls, labels: Mapping[str, str], cached: str | None = None) -> Record:
        """From the function's record labels, else (function gone) the record the state cache kept."""
        parts = sorted(((k, v) for k, v in labels.items() if is_record_label(k)),
                       key=lambda kv: int(kv[0][len(LABEL) + 1:] or 1) if kv[0] != LABEL else 1)
        joined = "".join(v for _k, v in parts)
        if not parts:
            return cls.of_text(cached)
        if not _HEX.match(joined):  # an older layout: no record
            return cls(None)
        return cls.of_text(" ".join(f"{joined[i:i + 6]}={joined[i + 6:i + ENTRY]}"
                                    for i in range(0, len(joined), ENTRY)))

    @classmethod
    def labels_of(cls, entries: Mapping[str, list[object]]) -> dict[str, str]:
        """`multicloud-record`, `multicloud-record-2`...: the entries without `=`, five per label."""
        flat = [entry.replace("=", "") for entry in cls.value_of(entries).split()]
        chunks = ["".join(flat[i:i + PER_LABEL]) for i in range(0, len(flat), PER_LABEL)]
        return {LABEL if n == 0 else f"{LABEL}-{n + 1}": chunk for n, chunk in enumerate(chunks)}

    def labels_of_entries(self) -> dict[str, str]:
        return self.labels_of(self.entries)


def recorded(kind: str, want: Mapping[str, object]) -> Record:
    """The record a deploy of `want` ({item: value as the spec wants it}) makes."""
    record = Record(None)
    record.check(kind, {}, _settings(want))
    return record


def _settings(values: Mapping[str, object]) -> core.Resources:
    return {name: {"value": value} for name, value in values.items()}


def split(record: Record, kind: str, changed: Iterable[str], current: Mapping[str, object],
          want: Mapping[str, object]) -> tuple[list[str], list[str]]:
    """(changed by the spec, changed outside multicloud) among the items that differ from the spec.
    `current` and `want` hold every item's value in the same normal form (resources.canonical); an
    item missing from `current` is gone."""
    names = list(changed)
    found = record.check(kind, _settings({n: current[n] for n in names if n in current}),
                         _settings({n: want[n] for n in names}))
    plain: list[str] = []
    drifted: list[str] = []
    for name in names:
        (drifted if found.label(name, name).startswith("drift: ") else plain).append(name)
    return plain, drifted


def label(record: Record, kind: str, item: str, present: bool, what: str, plain: str = "") -> str:
    """The detail for an item that is recorded as present: `drift: <what> was deleted...` when it is gone."""
    return record.check(kind, _settings({item: True} if present else {}), _settings({item: True})).label(
        item, what, plain)


def detail(plain: Sequence[str], drifted: Sequence[str]) -> str:
    """A plan line's detail: the fields the spec changed, then those changed by hand (names only)."""
    parts = [", ".join(plain)] if plain else []
    if drifted:
        parts.append(f"drift: {', '.join(drifted)} changed outside multicloud")
    return "; ".join(parts)


def deleted(what: str) -> str:
    return f"drift: {what} was deleted outside multicloud"


def job_description(base: str, record: Record) -> str:
    return base + JOB_RECORD + record.value


def job_record(description: str) -> tuple[str, Record]:
    """(the description without its record, the record: empty when there is none)."""
    base, sep, text = description.rpartition(JOB_RECORD)
    return (base, Record.of_text(text)) if sep else (description, Record(None))
