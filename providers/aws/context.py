"""The state shared by one plan (or remove/rollback) run: clients, names, and the steps planned.

Every write is a `Step` naming an executor of `apply.OPS` and its arguments as plain data, never a
closure: `plan` records the steps (reads only), `deploy` applies exactly those steps afterwards
(`apply.execute`). Values a step produces that later steps need (the version `publish_version` makes,
the id of a new HTTP API) are references (`ref`), resolved when the step that needs them runs.
`remove` and `rollback` run with `dry=False`: each step executes as soon as it is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from multicloud.plan import Step
from multicloud.provider import Progress

from .clients import Aws
from .settings import AwsSettings

Value = str | dict[str, Any]  # a value known at plan time, or a reference (`ref`) to one a step produces


def ref(key: str, *path: str, fmt: str = "{}") -> dict[str, Any]:
    """A value a planned step will produce: `outputs[key][path...]`, formatted into `fmt`."""
    return {"$ref": key, "path": list(path), "format": fmt}


def is_ref(value: object) -> bool:
    return isinstance(value, dict) and "$ref" in value


@dataclass
class Run:
    aws: Aws
    settings: AwsSettings
    service: str
    dry: bool
    progress: Progress
    steps: list[Step] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    observed: dict[str, object] = field(default_factory=dict)

    @property
    def changes(self) -> list[Step]:
        return self.steps

    def write(self, action: Literal["create", "update", "delete"], resource: str, op: str,
              args: dict[str, Any], detail: str = "", out: str | None = None) -> None:
        """Plan one write: executor `op` of `apply.OPS` with `args`; its answer is stored as `out`."""
        from .apply import OPS, execute

        base = Step.of(action, resource, detail)
        data = {**args, "$out": out} if out else args
        step = Step(action, base.kind, base.id, detail, op=op, args=data, calls=OPS[op].calls(args))
        self.steps.append(step)
        if not self.dry:
            execute(self.aws, step, self.outputs, self.progress)

    def noop(self, resource: str) -> None:
        self.steps.append(Step.of("noop", resource))

    def observe(self, resource: str, value: object) -> None:
        """What the target reported for `resource` (a saved plan is refused when it differs at apply)."""
        self.observed[resource] = value


def error_code(exc: Exception) -> str:
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def is_not_found(exc: Exception) -> bool:
    return error_code(exc) in {"ResourceNotFoundException", "NoSuchEntity", "NoSuchEntityException",
                               "NotFoundException", "AWS.SimpleQueueService.NonExistentQueue",
                               "QueueDoesNotExist", "NoSuchBucket", "404"}
