"""Drift: tell a change made by hand on Google Cloud from a change of the spec, so `plan` can say which.

Each deploy records what it applied, field by field, with the deployment itself: a Cloud Function's
label `multicloud-record` holds `1` (the layout's version) and three base32 characters per managed
field, a hash of the value the spec wanted for it. Label values allow lowercase letters, digits, `_` and
`-` (63 at most), so up to 20 fields fit (17 are used). Jobs have no labels: a job's description ends in
` record=` and its own record. A function's record also covers its invokers and the set of its Scheduler
jobs (so a job deleted by hand is known), and `.multicloud/state/gcp.json` keeps a copy for when the
function is gone.

A field that differs from the spec is then drift when the record holds the hash of what the spec wants
now (the last deploy applied exactly that, so somebody changed it since); otherwise the spec changed it
(a plain change). With no record (first deploy, or deployed before records existed) nothing is drift.
Only field names are ever shown, never values (env values, secret references).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence

VERSION = "1"
WIDTH = 3  # base32 characters per field: 15 bits, so a spec change passes for drift 1 time in 32768
RECORD_LABEL = "multicloud-record"
JOB_RECORD = " record="  # what precedes a job's record in its description


def digest(value: object) -> str:
    data = json.dumps(value, sort_keys=True, default=str).encode()
    return base64.b32encode(hashlib.sha256(data).digest()).decode().lower()[:WIDTH]


def encode(fields: Sequence[str], values: Mapping[str, object]) -> str:
    """The record of `values` (the spec's value of each of `fields`, in that order)."""
    return VERSION + "".join(digest(values.get(name)) for name in fields)


def decode(fields: Sequence[str], text: str | None) -> dict[str, str] | None:
    """{field: digest} of a record; None when there is none, or in another layout."""
    if not text or not text.startswith(VERSION) or len(text) != 1 + WIDTH * len(fields):
        return None
    return {name: text[1 + WIDTH * i:1 + WIDTH * (i + 1)] for i, name in enumerate(fields)}


def split(changed: Iterable[str], recorded: Mapping[str, str] | None,
          made: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """(changed by the spec, changed outside multicloud) among the fields that differ from the spec."""
    plain: list[str] = []
    drifted: list[str] = []
    for name in changed:
        by_hand = recorded is not None and name in made and recorded.get(name) == made[name]
        (drifted if by_hand else plain).append(name)
    return plain, drifted


def detail(plain: Sequence[str], drifted: Sequence[str]) -> str:
    """A plan line's detail: the fields the spec changed, then those changed by hand (names only)."""
    parts = [", ".join(plain)] if plain else []
    if drifted:
        parts.append(f"drift: {', '.join(drifted)} changed outside multicloud")
    return "; ".join(parts)


def deleted(what: str) -> str:
    return f"drift: {what} was deleted outside multicloud"


def job_description(base: str, record: str) -> str:
    return base + JOB_RECORD + record


def job_record(description: str) -> tuple[str, str | None]:
    """(the description without its record, the record or None)."""
    base, sep, record = description.rpartition(JOB_RECORD)
    return (base, record) if sep else (description, None)
