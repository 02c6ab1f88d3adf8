"""The plan model shared by every target.

A `Step` is one write on one resource: its kind and id, the action, the fields that change (before/after,
secret values only ever as fingerprints), a drift label when the difference was made by hand, and the name
of the provider's executor (`op`) with its arguments. Arguments stay in memory: they are never written to
a saved plan (they can hold values a reviewer must not see and paths of one machine); the document keeps
a digest of them, so a re-plan at apply time that would call the executor differently is caught.

A `Plan` is the ordered steps of one target plus what they were computed against: the spec's fingerprint,
the artifacts' digests, and a fingerprint per resource of what the target reported (`observed`), whose
hash is the state fingerprint. Everything here is plain data: no closures, so a plan can be saved.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Action = Literal["create", "update", "delete", "noop"]
ACTIONS: tuple[Action, ...] = ("create", "update", "delete", "noop")
FORMAT = "multicloud-plan/1"
DRIFT = "drift: "


def fingerprint(value: object, length: int = 16) -> str:
    """A short stable hash of JSON-able data (sorted keys; non-JSON values by their str)."""
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def secret_fingerprint(value: str, salt: str) -> str:
    """What a plan shows of a secret value: a salted hash (the salt is never stored with it)."""
    return "sha256:" + hashlib.sha256((salt + value).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class FieldChange:
    """One setting a step changes. With `secret`, before/after are fingerprints, never values."""

    name: str
    before: object = None
    after: object = None
    secret: bool = False

    def document(self) -> dict[str, object]:
        out: dict[str, object] = {"name": self.name, "before": self.before, "after": self.after}
        if self.secret:
            out["secret"] = True
        return out


@dataclass(frozen=True)
class Step:
    """One write (or a noop: a resource already as the spec wants it)."""

    action: Action
    kind: str  # e.g. "lambda function", "iam role", "function"
    id: str = ""  # the resource's name on the target
    detail: str = ""  # for people: what changes, `drift: ...` when a change made by hand is why
    fields: tuple[FieldChange, ...] = ()
    op: str = ""  # the provider's executor for this step ("" for noop and informational steps)
    args: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    calls: tuple[str, ...] = ()  # the write calls the executor makes, in order ("lambda:CreateFunction")

    @classmethod
    def of(cls, action: Action, resource: str, detail: str = "") -> Step:
        """A step from the old `Change(action, "kind id", detail)` shape."""
        kind, _, ident = resource.rpartition(" ")
        return cls(action, kind or ident, ident if kind else "", detail)

    @property
    def resource(self) -> str:
        return f"{self.kind} {self.id}".strip()

    @property
    def drift(self) -> str | None:
        """The drift label (`drift: ... changed outside multicloud`), None for a change of the spec."""
        return self.detail if self.detail.startswith(DRIFT) else None

    @property
    def args_digest(self) -> str:
        """What the executor will be given; only an executable step has one (a noop's args are never run,
        and the saved document carries no digest for it)."""
        return fingerprint(self.args) if self.args and self.op else ""

    def document(self) -> dict[str, object]:
        out: dict[str, object] = {"action": self.action, "kind": self.kind, "id": self.id,
                                  "resource": self.resource, "detail": self.detail}
        if self.drift:
            out["drift"] = self.drift
        if self.fields:
            out["fields"] = [f.document() for f in self.fields]
        if self.op:
            out["op"] = self.op
            out["calls"] = list(self.calls)
            out["args_digest"] = self.args_digest
        return out

    @classmethod
    def from_document(cls, data: Mapping[str, Any]) -> Step:
        action = str(data["action"])
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        fields = tuple(FieldChange(str(f["name"]), f.get("before"), f.get("after"), bool(f.get("secret")))
                       for f in data.get("fields", []))
        step = cls(action, str(data["kind"]), str(data.get("id", "")), str(data.get("detail", "")),
                   fields, str(data.get("op", "")), {}, tuple(str(c) for c in data.get("calls", [])))
        object.__setattr__(step, "_saved_args_digest", str(data.get("args_digest", "")))
        return step

    def key(self) -> tuple[object, ...]:
        """What must match between a saved step and the re-planned one."""
        saved = getattr(self, "_saved_args_digest", None)
        return (self.action, self.resource, self.detail, self.fields, self.op, self.calls,
                saved if saved is not None else self.args_digest)


@dataclass(frozen=True)
class Plan:
    """The steps of one target, in the order they run, and what they were computed against."""

    target: str
    steps: tuple[Step, ...] = ()
    spec: str = ""  # fingerprint of the spec as this target reads it
    digest: str = ""  # the build's digest over every artifact
    artifacts: Mapping[str, str] = field(default_factory=dict)  # function -> sha256 of its artifact
    observed: Mapping[str, str] = field(default_factory=dict)  # resource -> fingerprint of what it reported
    #: What the provider's `_apply` needs from planning besides the steps (names, values to report), in
    #: memory only: never saved. A saved plan is never applied as loaded: a fresh, equal plan is.
    memo: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Old providers build `Plan(target, (Change(...), ...))`: the same steps, informational.
        steps = tuple(s if isinstance(s, Step) else Step.of(s.action, s.resource, s.detail)  # type: ignore[attr-defined]
                      for s in self.steps)
        object.__setattr__(self, "steps", steps)

    @property
    def changes(self) -> tuple[Step, ...]:
        """The steps (the name every reader of a plan used before steps existed)."""
        return self.steps

    @property
    def has_changes(self) -> bool:
        return any(s.action != "noop" for s in self.steps)

    @property
    def state(self) -> str:
        """The state fingerprint: what the target reported when the plan was made."""
        return fingerprint(dict(self.observed))

    def document(self) -> dict[str, object]:
        return {"format": FORMAT, "target": self.target, "spec": self.spec, "digest": self.digest,
                "artifacts": dict(sorted(self.artifacts.items())), "state": self.state,
                "observed": dict(sorted(self.observed.items())), "steps": [s.document() for s in self.steps]}

    @classmethod
    def from_document(cls, data: Mapping[str, Any]) -> Plan:
        if data.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} document (format {data.get('format')!r})")
        return cls(str(data["target"]), tuple(Step.from_document(s) for s in data.get("steps", [])),
                   str(data.get("spec", "")), str(data.get("digest", "")),
                   {str(k): str(v) for k, v in dict(data.get("artifacts", {})).items()},
                   {str(k): str(v) for k, v in dict(data.get("observed", {})).items()})
