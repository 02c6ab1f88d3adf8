"""`multicloud move --from A --to B`: deploy to B, verify it serves, only then remove it from A."""

from __future__ import annotations

from dataclasses import dataclass

from multicloud.errors import UnsupportedError
from multicloud.project import Project
from multicloud.provider import DeployResult, Progress, RemoveResult


@dataclass(frozen=True)
class MoveResult:
    source: str
    destination: str
    deployed: DeployResult
    removed: RemoveResult


def move_service(project: Project, source: str, destination: str, progress: Progress) -> MoveResult:
    raise UnsupportedError("`move` is not implemented yet", fix="deploy to the new target, then remove the old")
