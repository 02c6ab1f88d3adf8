"""The state of one plan: the steps recorded so far and what the target reported.

Every write is a `Step` naming an executor of `apply.OPS` with its arguments as plain data, never a
closure. A value only an earlier step produces (the URL or Cloud Run service of a function created by
this deploy) is a reference (`ref`), resolved when the step that needs it runs (`apply.resolve`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from multicloud.plan import FieldChange, Step

Write = Literal["create", "update", "delete"]


def ref(key: str, *path: str) -> dict[str, Any]:
    """A value a planned step will produce: `outputs[key][path...]`."""
    return {"$ref": key, "path": list(path)}


def is_ref(value: object) -> bool:
    return isinstance(value, dict) and "$ref" in value


@dataclass
class Run:
    steps: list[Step] = field(default_factory=list)
    observed: dict[str, str] = field(default_factory=dict)

    def write(self, action: Write, resource: str, op: str, args: dict[str, Any], detail: str = "",
              out: str | None = None, fields: Sequence[FieldChange] = ()) -> None:
        """Plan one write: executor `op` of `apply.OPS` with `args`; its answer is kept as `out`."""
        from .apply import OPS

        base = Step.of(action, resource, detail)
        data = {**args, "$out": out} if out else args
        self.steps.append(Step(action, base.kind, base.id, detail, tuple(fields), op, data, OPS[op].calls(args)))

    def noop(self, resource: str) -> None:
        self.steps.append(Step.of("noop", resource))

    def observe(self, resource: str, value: str) -> None:
        """What the target reported for `resource` (a saved plan is refused when it differs at apply)."""
        self.observed[resource] = value
