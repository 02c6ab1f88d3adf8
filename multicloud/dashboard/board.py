"""What the dashboard shows, as data: the services it watches and, per service and target, one cell.

A cell puts together the latest status read, the latest plan, and this checkout's record of the last
deploy; `health` classifies it for the matrix. Nothing here reads a target: the caches do that in the
background and this module only combines what they hold, so a page renders in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Generic, Literal, TypeVar

from multicloud.project import Project
from multicloud.provider import Plan, StatusReport

T = TypeVar("T")
HEALTHY_STATES = frozenset({"running", "active"})
Health = Literal["healthy", "unhealthy", "not-deployed", "unknown", "not-available", "reading"]


@dataclass(frozen=True)
class Reading(Generic[T]):
    """One read of a target (a status or a plan): its value or why there is none, and when it was read."""

    value: T | None
    read_at: datetime
    duration_s: float
    error: str | None = None
    unsupported: bool = False  # the target does not implement this (exit 3 in the CLI)

    def age_s(self, now: datetime | None = None) -> float:
        return ((now or datetime.now(timezone.utc)) - self.read_at).total_seconds()


@dataclass(frozen=True)
class Service:
    key: str  # unique among the watched services: the URL segment
    project: Project
    targets: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.project.name


def load_services(paths: list[Path], targets: list[str] | None = None) -> list[Service]:
    """Load each project (exit 2 on a bad spec, as every command); its targets are the spec's (the ones
    `deploy` uses) unless `targets` names them."""
    out: list[Service] = []
    seen: set[str] = set()
    for path in paths:
        project = Project.load(path)
        key, n = project.name, 2
        while key in seen:
            key, n = f"{project.name}-{n}", n + 1
        seen.add(key)
        out.append(Service(key, project, tuple(targets or project.default_targets())))
    return out


@dataclass(frozen=True)
class Cell:
    service: Service
    target: str
    status: Reading[StatusReport] | None  # None: not read yet
    plan: Reading[Plan] | None
    last_deploy: dict[str, str] = field(default_factory=dict)
    plan_running: bool = False

    @property
    def health(self) -> Health:
        if self.status is None:
            return "reading"
        if self.status.unsupported:
            return "not-available"
        report = self.status.value
        if report is None:
            return "unknown"
        if not report.deployed and all(f.state in ("missing", "stopped") for f in report.functions):
            return "not-deployed"
        if report.functions and all(f.state.lower() in HEALTHY_STATES for f in report.functions):
            return "healthy"
        return "unhealthy"

    @property
    def unhealthy_functions(self) -> list[str]:
        report = self.status.value if self.status else None
        return [f"{f.function}: {f.state}" for f in (report.functions if report else ())
                if f.state.lower() not in HEALTHY_STATES]

    @property
    def version(self) -> str | None:
        report = self.status.value if self.status else None
        versions = sorted({f.version for f in (report.functions if report else ()) if f.version})
        return ", ".join(versions) or None

    @property
    def endpoint(self) -> str | None:
        report = self.status.value if self.status else None
        for f in report.functions if report else ():
            if f.endpoint:
                return f.endpoint
        return (report.details.get("url") if report else None) or None

    @property
    def plan_summary(self) -> tuple[str, str]:
        """(css class, text) of the plan: no changes, N changes, drift, or why there is no plan."""
        if self.plan is None:
            return ("pending", "planning..." if self.plan_running else "not planned yet")
        if self.plan.unsupported:
            return ("na", "plan not available")
        if self.plan.value is None:
            return ("error", "plan failed")
        changes = [c for c in self.plan.value.changes if c.action != "noop"]
        if not changes:
            return ("clean", "no changes")
        drift = [c for c in changes if "drift" in c.detail]
        if drift:
            return ("drift", f"drift: {len(drift)} of {len(changes)} change(s)")
        return ("changes", f"{len(changes)} change(s) to deploy")
