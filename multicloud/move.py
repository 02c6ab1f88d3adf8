"""`multicloud move --from A --to B`: deploy to B, verify it serves, only then remove it from A.

The source keeps its deploy lock for the whole move, so nobody redeploys or removes it meanwhile;
`orchestrate.deploy` takes the destination's lock itself. Until the destination has answered every HTTP
function and reports each function healthy, nothing on the source is touched: a failed move leaves the
old deployment serving and removes what it half-made on the destination (best effort). Once it serves,
requests already accepted by the source get the source's longest function timeout to finish before the
source is removed (callers resolving the function afresh, like multicloud.client, go to the destination).

Queue, stream and storage triggers (move_events.py): a private destination must also acknowledge a probe
message on each of them; then the source keeps consuming until its queues are empty (`drain_timeout`),
and only then is it removed. The result says where producers send now.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from multicloud import move_events
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
    events: move_events.EventsReport = move_events.EventsReport()


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
        if not _answered(result.status):
            problems.append(f"{fn.name} answered {result.status}: {result.error or result.body[:200]!r}")
    if problems:
        raise OperationError(
            f"{project.name} on {target} does not serve: " + "; ".join(problems),
            fix=f"check `multicloud status {project.root} --target {target}` and "
                f"`multicloud logs {project.root} --target {target}`, fix it, then move again",
            where=target,
        )


def _answered(status: int | None) -> bool:
    """The function itself answered the probe request: a 2xx/3xx, or a 4xx about the (empty) request, like
    a POST handler's 400 "needs a sku". Not when the route, the key or the server failed."""
    return status is not None and status < 500 and status not in (401, 403, 404)


def drain_seconds(project: Project, source: str) -> float:
    """How long a request the source accepted before the switch may still run: its longest timeout."""
    return float(min(MAX_DRAIN_S, max((fn.timeout for fn in project.functions_for(source)), default=0)))


def move_service(project: Project, source: str, destination: str, progress: Progress,
                 drain_s: float | None = None, *, drain_timeout: float = move_events.DRAIN_TIMEOUT_S,
                 probe_timeout: float = move_events.PROBE_TIMEOUT_S) -> MoveResult:
    """Deploy to `destination`, verify it (HTTP functions answer, event consumers acknowledge a probe), let
    the source's queues empty (at most `drain_timeout` s) and requests in flight on `source` finish
    (`drain_s`, default the source's longest function timeout, at most MAX_DRAIN_S), then remove the
    service from `source`."""
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
        fresh = not dst.status().deployed  # a rerun (after a drain that timed out) finds it there already
        try:
            deployed = orchestrate.deploy(project, destination, progress)
        except MulticloudError:
            if fresh:  # what the failed deploy half-made (a broker, streams...) goes; the source still serves
                _remove_quietly(dst, progress)
            raise
        try:
            verify(project, dst, progress)
            probed = move_events.probe(project, dst, progress, probe_timeout)
        except MulticloudError as exc:
            progress(f"verification failed; removing the new deployment from {destination}")
            _remove_quietly(dst, progress)
            raise OperationError(
                f"move of {project.name} to {destination} failed verification; {source} keeps serving: "
                f"{exc.what}",
                fix=exc.fix,
                where=exc.where,
            ) from exc
        started = time.monotonic()
        drained = move_events.drain(project, src, progress, drain_timeout, destination)
        wait = max(0.0, (drain_seconds(project, source) if drain_s is None else drain_s)
                   - (time.monotonic() - started))
        progress(f"{destination} serves; letting requests in flight on {source} finish ({wait:.0f} s)")
        time.sleep(wait)
        progress(f"removing from {source}")
        removed = src.remove(progress)
    events = move_events.EventsReport(probed, drained, move_events.producers(project, dst))
    return MoveResult(source, destination, deployed, removed, events)


def _remove_quietly(provider: Provider, progress: Progress) -> None:
    """Remove what a failed move made on the destination, best effort: the source still serves either way."""
    from multicloud import orchestrate

    try:
        with orchestrate.locked(provider, "remove", progress):
            provider.remove(progress)
    except MulticloudError:
        pass
