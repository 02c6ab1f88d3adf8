"""`multicloud move --from A --to B`: deploy to B, verify it serves, only then remove it from A.

The source keeps its deploy lock for the whole move, so nobody redeploys or removes it meanwhile;
`orchestrate.deploy` takes the destination's lock itself. Until the destination has answered every HTTP
function and reports each function healthy, nothing on the source is touched: a failed move leaves the
old deployment serving and removes what it half-made on the destination (best effort). Once it serves,
requests already accepted by the source get the source's longest function timeout to finish before the
source is removed (callers resolving the function afresh, like multicloud.client, go to the destination).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from multicloud.errors import MulticloudError, OperationError, UsageError
from multicloud.project import Project
from multicloud.provider import DeployResult, InvokeRequest, Progress, Provider, RemoveResult

# States a provider's status() reports for a function that serves.
HEALTHY = frozenset({"running", "active", "ready", "healthy", "deployed"})
MAX_DRAIN_S = 60


@dataclass(frozen=True)
class MoveResult:
    source: str
    destination: str
    deployed: DeployResult
    removed: RemoveResult


def verify(project: Project, provider: Provider, progress: Progress) -> None:
    """Raise OperationError unless `provider` answers every HTTP function and reports all functions healthy."""
    target = provider.name
    problems: list[str] = []
    report = provider.status()
    if not report.deployed:
        problems.append("status reports nothing deployed")
    for fs in report.functions:
        if fs.state not in HEALTHY:
            problems.append(f"{fs.function} is {fs.state}" + (f" ({fs.detail})" if fs.detail else ""))
    for fn in project.functions_for(target):
        http = [t.http for t in fn.triggers if t.http is not None]
        if not http:
            continue
        method = "GET" if "GET" in http[0].methods else http[0].methods[0]
        progress(f"verifying {fn.name} on {target}")
        result = provider.invoke(InvokeRequest(fn.name, "http", method=method))
        if not result.ok or result.status is None or result.status >= 500:
            problems.append(f"{fn.name} answered {result.status}: {result.error or result.body[:200]!r}")
    if problems:
        raise OperationError(
            f"{project.name} on {target} does not serve: " + "; ".join(problems),
            fix=f"check `multicloud status {project.root} --target {target}` and "
                f"`multicloud logs {project.root} --target {target}`, fix it, then move again",
            where=target,
        )


def drain_seconds(project: Project, source: str) -> float:
    """How long a request the source accepted before the switch may still run: its longest timeout."""
    return float(min(MAX_DRAIN_S, max((fn.timeout for fn in project.functions_for(source)), default=0)))


def move_service(project: Project, source: str, destination: str, progress: Progress,
                 drain_s: float | None = None) -> MoveResult:
    """Deploy to `destination`, verify it, let requests in flight on `source` finish (`drain_s`, default
    the source's longest function timeout, at most MAX_DRAIN_S), then remove the service from `source`."""
    from multicloud import orchestrate

    if source == destination:
        raise UsageError(f"--from and --to are both {source}", fix="name two different targets")
    src = orchestrate.provider_for(project, source)
    dst = orchestrate.provider_for(project, destination)
    for provider in (src, dst):
        provider.require_sdk()  # before the source's lock: a move that cannot finish does not start
    with orchestrate.locked(src, "move", progress):
        if not src.status().deployed:
            raise OperationError(
                f"{project.name} is not deployed on {source}: there is nothing to move",
                fix=f"deploy it with `multicloud deploy {project.root} --target {destination}` instead",
                where=source,
            )
        progress(f"deploying to {destination}")
        deployed = orchestrate.deploy(project, destination, progress)
        try:
            verify(project, dst, progress)
        except MulticloudError as exc:
            progress(f"verification failed; removing the new deployment from {destination}")
            try:
                with orchestrate.locked(dst, "remove", progress):
                    dst.remove(progress)
            except MulticloudError:
                pass  # best effort: the source still serves either way
            raise OperationError(
                f"move of {project.name} to {destination} failed verification; {source} keeps serving: "
                f"{exc.what}",
                fix=exc.fix,
                where=exc.where,
            ) from exc
        wait = drain_seconds(project, source) if drain_s is None else drain_s
        progress(f"{destination} serves; letting requests in flight on {source} finish ({wait:.0f} s)")
        time.sleep(wait)
        progress(f"removing from {source}")
        removed = src.remove(progress)
    return MoveResult(source, destination, deployed, removed)
