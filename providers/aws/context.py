"""The state shared by one deploy/plan run: clients, names, and the list of changes made (or planned).

`dry=True` turns every write into a recorded `Change` without calling AWS, so `plan` and `deploy` walk
the same code path: what plan prints is what deploy does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from multicloud.provider import Change, Progress
from multicloud.spec.targets.aws import AwsSettings

from .clients import Aws

T = TypeVar("T")


@dataclass
class Run:
    aws: Aws
    settings: AwsSettings
    service: str
    dry: bool
    progress: Progress
    changes: list[Change] = field(default_factory=list)

    def write(self, action: Literal["create", "update", "delete"], resource: str, call: Callable[[], T],
              detail: str = "") -> T | None:
        """Record a change and, unless planning, make it."""
        self.changes.append(Change(action, resource, detail))
        if self.dry:
            return None
        self.progress(f"{action} {resource}" + (f" ({detail})" if detail else ""))
        return call()

    def also(self, call: Callable[[], object]) -> None:
        """A write that only keeps books on changes already recorded (not a change of its own)."""
        if not self.dry:
            call()

    def noop(self, resource: str) -> None:
        self.changes.append(Change("noop", resource))


def error_code(exc: Exception) -> str:
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def is_not_found(exc: Exception) -> bool:
    return error_code(exc) in {"ResourceNotFoundException", "NoSuchEntity", "NoSuchEntityException",
                               "NotFoundException", "AWS.SimpleQueueService.NonExistentQueue",
                               "QueueDoesNotExist", "NoSuchBucket", "404"}
