"""Drift records, shared by every target: tell a change made by hand from a change of the spec.

Each deploy records one short fingerprint per resource it converges: `<id>=<content>`, six hex digits of
a hash of the resource's kind and key, six of its settings as the spec wanted them. Where the record is
stored is the target's choice (aws: the function's tags, `providers/aws/drift.py`); this module is the
record and the rule, the same everywhere:

for each resource that differs from the spec: recorded and now missing, or now unlike its record, means
changed outside multicloud (`drift: ...`); recorded and as recorded means the spec changed (a plain
change); not recorded means new in the spec, or, when the spec does not want it either, added by hand.
With no record at all (first deploy, or deployed before records existed) nothing is called drift.

What a deploy makes is kept unhashed (`entries`) until it is stored: a setting can be a value a planned
step produces (multicloud.plan), resolved at apply time; `value_of(entries)` hashes the resolved ones.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

# {resource key: {setting: value}}: one kind of resource, normalised so that what the spec wants and
# what the target reports compare equal once deployed. Setting names appear in drift details.
Resources = Mapping[str, Mapping[str, object]]


def _hash(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:6]


@dataclass(frozen=True)
class Drift:
    """One kind of resource: what the target reports, what the spec wants, and what the last deploy made."""

    kind: str
    recorded: Mapping[str, str] | None  # {id: content} of every resource; None: nothing recorded
    current: Resources
    want: Resources

    def made(self, key: str) -> bool:
        """Whether the last deploy recorded resource `key` (made it, or found it as the spec wanted)."""
        return self.recorded is not None and _hash(self.kind, key) in self.recorded

    def label(self, key: str, what: str, plain: str = "") -> str:
        """The detail of the change that converges resource `key`: `drift: ...` when a change made by
        hand is why it differs, else `plain`."""
        if self.recorded is None:
            return plain
        was = self.recorded.get(_hash(self.kind, key))
        now, wanted = self.current.get(key), self.want.get(key)
        if wanted is None:  # the spec does not want it: dropped from the spec, or never multicloud's
            return f"drift: {what} was added outside multicloud" if now is not None and was is None else plain
        if was is None:  # new in the spec
            return plain
        if now is None:
            return f"drift: {what} was deleted outside multicloud"
        if _hash(self.kind, key, now) == was:  # as deployed: the spec changed
            return plain
        changed = [name for name, value in wanted.items() if now.get(name) != value]
        return f"drift: {', '.join(changed)} of {what} changed outside multicloud" if changed else plain


@dataclass
class Record:
    """The fingerprints the last deploy recorded for one function, and those this run makes.

    What this run makes is kept as `entries` ({id: [kind, key, fields]}), hashed only when stored: a
    field can be a value a planned step will produce (the id of a new HTTP API), resolved at apply time."""

    recorded: dict[str, str] | None
    entries: dict[str, list[object]] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Record:
        """From the stored text (`id=content` entries separated by spaces); an empty record is None."""
        pairs = (entry.partition("=") for entry in text.split())
        return cls({rid: content for rid, sep, content in pairs if sep} or None)

    def check(self, kind: str, current: Resources, want: Resources) -> Drift:
        self.entries.update({_hash(kind, key): [kind, key, fields] for key, fields in want.items()})
        return Drift(kind, self.recorded, current, want)

    @property
    def made(self) -> dict[str, str]:
        return {rid: _hash(*entry) for rid, entry in self.entries.items()}

    @staticmethod
    def value_of(entries: Mapping[str, list[object]]) -> str:
        return " ".join(f"{rid}={_hash(*entry)}" for rid, entry in sorted(entries.items()))

    @property
    def value(self) -> str:
        return self.value_of(self.entries)


def check(record: Record | None, kind: str, current: Resources, want: Resources) -> Drift:
    """`record` is None where nothing is recorded on purpose (`remove`): no drift, nothing made."""
    return Drift(kind, None, current, want) if record is None else record.check(kind, current, want)
