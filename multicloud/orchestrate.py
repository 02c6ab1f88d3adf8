"""Build, plan, deploy and remove across targets: the flow the CLI drives.

Each target is checked against its capabilities before anything is built; targets deploy concurrently
and one failing target does not stop the others. Outcomes come back as data; the CLI prints them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from multicloud.errors import MulticloudError, from_os_error
from multicloud.project import Project
from multicloud.provider import BuildResult, DeployResult, Plan, Progress, Provider, RemoveResult
from multicloud.registry import provider_class
from multicloud.state import build_dir, record_deploy


@dataclass(frozen=True)
class TargetOutcome:
    target: str
    ok: bool
    duration_s: float
    result: DeployResult | Plan | BuildResult | RemoveResult | None = None
    error: MulticloudError | None = None

    def summary(self) -> dict[str, object]:
        out: dict[str, object] = {"target": self.target, "ok": self.ok, "duration_s": round(self.duration_s, 3)}
        if isinstance(self.result, DeployResult):
            out.update(version=self.result.version, changed=self.result.changed,
                       endpoints=[{"function": e.function, "url": e.url, "auth": e.auth}
                                  for e in self.result.endpoints])
        elif isinstance(self.result, Plan):
            out["changes"] = [{"action": c.action, "resource": c.resource, "detail": c.detail}
                              for c in self.result.changes]
            out["plan"] = self.result.document()  # what `plan --out` saves and `deploy --plan` checks
        elif isinstance(self.result, BuildResult):
            out["manifest"] = str(self.result.out_dir / "build.json")
            out["digest"] = self.result.digest
        elif isinstance(self.result, RemoveResult):
            out["removed"] = list(self.result.removed)
        if self.error is not None:
            out["error"] = self.error.to_dict()
        return out


@contextmanager
def locked(provider: Provider, operation: str, progress: Progress) -> Iterator[None]:
    """The one place a target's deploy lock is taken: every flow that changes a target (deploy, a saved
    plan's apply, rollback, remove here; `move` and the dashboard through these) goes through it."""
    from multicloud.locking import target_lock

    with target_lock(provider, operation, progress):
        yield


def provider_for(project: Project, target: str) -> Provider:
    return provider_class(target)(project)


def build_target(project: Project, target: str, progress: Progress) -> BuildResult:
    return _build(provider_for(project, target), progress)


def _build(provider: Provider, progress: Progress) -> BuildResult:
    provider.project.check_target(provider.name)
    provider.check()
    progress("building")
    return provider.build(build_dir(provider.project, provider.name), progress)


Work = DeployResult | Plan | BuildResult | RemoveResult


def _run(target: str, work: Callable[[], Work]) -> TargetOutcome:
    start = time.perf_counter()
    try:
        result = work()
    except MulticloudError as exc:
        return TargetOutcome(target, False, time.perf_counter() - start, error=exc)
    except OSError as exc:  # this machine's files: disk full, file too large, read-only
        return TargetOutcome(target, False, time.perf_counter() - start, error=from_os_error(exc))
    return TargetOutcome(target, True, time.perf_counter() - start, result=result)


def for_each_target(
    targets: list[str],
    work: Callable[[str], Work],
) -> list[TargetOutcome]:
    """Run `work` per target concurrently; collect outcomes in the order given."""
    if len(targets) == 1:
        return [_run(targets[0], lambda: work(targets[0]))]
    with ThreadPoolExecutor(max_workers=min(8, len(targets))) as pool:
        futures = [pool.submit(_run, t, lambda t=t: work(t)) for t in targets]  # type: ignore[misc]
        return [f.result() for f in futures]


def deploy(project: Project, target: str, progress: Progress) -> DeployResult:
    provider = provider_for(project, target)
    with locked(provider, "deploy", progress):
        build = _build(provider, progress)
        progress("deploying")
        result = provider.deploy(build, progress)
    if result.changed:
        record_deploy(project, target, "deploy", result.version)
    return result


def apply_saved(project: Project, target: str, saved: Plan, progress: Progress, where: Path | None = None
                ) -> DeployResult:
    """`deploy --plan`: under the deploy lock, build and plan again; apply only if that fresh plan is the
    saved one (same spec, artifacts, steps and target state), else refuse naming what changed."""
    from multicloud.plan.saved import differences, refuse

    provider = provider_for(project, target)
    with locked(provider, "deploy", progress):
        build = _build(provider, progress)
        progress("planning again to check the saved plan")
        fresh = provider.plan(build, progress)
        changed = differences(saved, fresh)
        if changed:
            raise refuse(target, changed, where)
        progress("deploying the saved plan")
        result = provider.apply(fresh, build, progress)
    if result.changed:
        record_deploy(project, target, "deploy", result.version)
    return result


def rollback(project: Project, target: str, progress: Progress) -> DeployResult:
    """Point `target`'s live version back at the previous one, under the target's deploy lock."""
    provider = provider_for(project, target)
    with locked(provider, "rollback", progress):
        result = provider.rollback(progress)
    record_deploy(project, target, "rollback", result.version)
    return result


def plan_rollback(project: Project, target: str, progress: Progress) -> Plan:
    """What `rollback` would change on `target` (nothing is locked or changed)."""
    return provider_for(project, target).plan_rollback(progress)


def plan(project: Project, target: str, progress: Progress) -> Plan:
    provider = provider_for(project, target)
    build = _build(provider, progress)
    progress("planning")
    return provider.plan(build, progress)


def remove(project: Project, target: str, progress: Progress) -> RemoveResult:
    provider = provider_for(project, target)
    with locked(provider, "remove", progress):
        result = provider.remove(progress)
    if result.removed:
        record_deploy(project, target, "remove", "")
    return result
