"""Operations on what deploy made: url, status, logs, remove (rollback plans through plan.py and applies
through apply.py like any deploy), for both modes. The engine is the source of truth: everything is found
by its labels."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from multicloud.errors import OperationError
from multicloud.provider import FunctionStatus, LogRecord, StatusReport

from . import engine as eng
from . import hardening
from .single import Single
from .swarm import Swarm

Mode = Single | Swarm


def url(mode: Mode) -> str:
    return single_url(mode) if isinstance(mode, Single) else swarm_url(mode)


def status(mode: Mode) -> StatusReport:
    return single_status(mode) if isinstance(mode, Single) else swarm_status(mode)


def logs(mode: Mode, function: str | None, since: datetime | None, follow: bool) -> Iterator[LogRecord]:
    if isinstance(mode, Single):
        yield from single_logs(mode, function, since, follow)
    else:
        yield from swarm_logs(mode, function, since, follow)


def remove(mode: Mode) -> list[str]:
    return single_remove(mode) if isinstance(mode, Single) else swarm_remove(mode)


def endpoint(mode: Mode) -> tuple[str, int]:
    """(host, port) of the gateway, after a deploy."""
    if isinstance(mode, Single):
        gateway = mode.gateway()
        if gateway is None:
            raise OperationError("the gateway is gone after the deploy", fix="plan and deploy again", where="docker")
        return mode.endpoint(gateway)
    service = mode.service(mode.gateway_name)
    if service is None:
        raise OperationError("the gateway service is gone after the deploy", fix="plan and deploy again",
                             where="docker")
    return eng.public_host("0.0.0.0"), mode.published_port(service)


def deployed_digest(mode: Mode) -> str | None:
    """The digest of the release that serves now (single: the one the gateway routes to)."""
    if isinstance(mode, Single):
        live = mode.live()
        return live.labels.get(eng.DIGEST) if live is not None else None
    return mode.labels(mode.service(mode.name)).get(eng.DIGEST)


# ---- single mode ---------------------------------------------------------------------------------------
def single_url(mode: Single) -> str:
    gateway = mode.gateway()
    if gateway is None or gateway.status != "running":
        raise OperationError(f"{mode.project.name} is not deployed on this engine (no running gateway)",
                             fix="run `multicloud deploy --target docker`", where="docker")
    host, port = mode.endpoint(gateway)
    return f"http://{host}:{port}"


def single_logs(mode: Single, function: str | None, since: datetime | None, follow: bool) -> Iterator[LogRecord]:
    live = mode.live()
    if live is None:
        return
    yield from container_logs(live, function, since, follow)


def single_status(mode: Single) -> StatusReport:
    gateway = mode.gateway()
    live = mode.live()
    if gateway is None and live is None:
        return StatusReport("docker", deployed=False)
    url = None
    details: dict[str, str] = {"mode": "single"}
    if gateway is not None:
        details["gateway"] = gateway.status
        if gateway.status == "running":
            host, port = mode.endpoint(gateway)
            url = f"http://{host}:{port}"
            details["url"] = url
    broker = mode.broker()
    if not broker.topology.empty:
        container = broker.container()
        broker_port = broker.port(container) if container is not None else None
        details["broker"] = (f"{container.name} {container.status}, restarted "
                             f"{container.attrs.get('RestartCount', 0)} time(s), nats://"
                             f"{eng.public_host(mode.settings.publish_host)}:{broker_port}"
                             if container is not None else "missing")
    gateway_down = None
    if gateway is None or gateway.status != "running":
        gateway_down = f"the gateway is {gateway.status if gateway is not None else 'gone'}; deploy again"
    if live is None:
        detail = ("the gateway is not running" if gateway_down else "the gateway routes to no container")
        fs = tuple(FunctionStatus(fn.name, "missing", detail=detail) for fn in mode.project.functions_for("docker"))
        return StatusReport("docker", deployed=True, functions=fs, details=details, down=gateway_down or
                            "no function container serves (removed outside multicloud?); deploy again")
    state, detail, counts = container_health(mode.client, live)
    down = gateway_down
    if down is None and state not in ("running", "starting"):
        down = f"the function container {live.name} is {state}"
    details.update(counts)
    details["container"] = live.name
    fs = tuple(
        FunctionStatus(fn.name, state, version=(live.labels.get(eng.DIGEST) or "")[:12] or None,
                       endpoint=(url + fn.triggers_of("http")[0].http.path)  # type: ignore[union-attr]
                       if url and fn.triggers_of("http") else url,
                       detail=detail)
        for fn in mode.project.functions_for("docker"))
    return StatusReport("docker", deployed=True, functions=fs, details=details, down=down)


def single_remove(mode: Single) -> list[str]:
    from docker.errors import NotFound

    removed: list[str] = []
    gateway = mode.gateway()
    if gateway is not None:
        gateway.remove(force=True)
        removed.append(gateway.name)
    for c in mode.client.containers.list(all=True, ignore_removed=True, filters=eng.owned(mode.project.name)):
        c.remove(force=True)
        removed.append(c.name)
    for v in mode.client.volumes.list(filters=eng.owned(mode.project.name)):
        try:
            v.remove(force=True)
            removed.append(v.name)
        except NotFound:
            pass
    for n in mode.client.networks.list(filters=eng.owned(mode.project.name)):
        n.remove()
        removed.append(n.name)
    return removed


# ---- swarm mode ----------------------------------------------------------------------------------------
def swarm_url(mode: Swarm) -> str:
    gateway = mode.service(mode.gateway_name)
    if gateway is None:
        raise OperationError(f"{mode.project.name} is not deployed on this swarm",
                             fix="run `multicloud deploy --target docker`", where="docker")
    return f"http://{eng.public_host('0.0.0.0')}:{mode.published_port(gateway)}"


def swarm_status(mode: Swarm) -> StatusReport:
    svc = mode.service(mode.name)
    gateway = mode.service(mode.gateway_name)
    if svc is None and gateway is None:
        return StatusReport("docker", deployed=False)
    details = {"mode": "swarm"}
    url = None
    if gateway is not None:
        url = f"http://{eng.public_host('0.0.0.0')}:{mode.published_port(gateway)}"
        details["url"] = url
    if svc is None:
        return StatusReport("docker", deployed=True, details=details, functions=tuple(
            FunctionStatus(fn.name, "missing") for fn in mode.project.functions_for("docker")))
    tasks = svc.tasks()
    running = [t for t in tasks if t["DesiredState"] == "running" and t["Status"]["State"] == "running"]
    failed = [t for t in tasks if t["Status"]["State"] in ("failed", "rejected")]
    ooms = sum(1 for t in failed if t["Status"].get("ContainerStatus", {}).get("ExitCode") == 137)
    update = (svc.attrs.get("UpdateStatus") or {}).get("State", "none")
    details.update(replicas=f"{len(running)}/{mode.settings.replicas}", update=update,
                   failed_tasks=str(len(failed)), exit_137_tasks=str(ooms))
    state = "running" if len(running) >= mode.settings.replicas else ("degraded" if running else "failed")
    digest = ((svc.attrs["Spec"].get("Labels") or {}).get(eng.DIGEST) or "")[:12] or None
    detail = f"{len(running)}/{mode.settings.replicas} tasks running; update {update}; {len(failed)} failed tasks"
    return StatusReport("docker", deployed=True, details=details, functions=tuple(
        FunctionStatus(fn.name, state, version=digest, endpoint=url, detail=detail)
        for fn in mode.project.functions_for("docker")))


def swarm_logs(mode: Swarm, function: str | None, since: datetime | None, follow: bool) -> Iterator[LogRecord]:
    svc = mode.service(mode.name)
    if svc is None:
        return
    kwargs: dict[str, Any] = {"stdout": True, "stderr": True, "timestamps": True, "follow": follow}
    if since is not None:
        kwargs["since"] = int(since.timestamp())
    buf = b""
    for chunk in svc.logs(**kwargs):
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            text = line.decode(errors="replace")
            # Swarm prefixes task details: "<timestamp> <task>@<node> | <message>" with details on
            stamp, _, rest = text.partition(" ")
            message = rest.split(" | ", 1)[-1]
            record = log_record(f"{stamp} {message}", function)
            if record is not None:
                yield record


def swarm_remove(mode: Swarm) -> list[str]:
    removed = []
    for name in (mode.gateway_name, mode.name):
        svc = mode.service(name)
        if svc is not None:
            svc.remove()
            removed.append(name)
    removed += mode.broker().remove()
    # tasks take a moment to go; secrets, volumes and the network can only go after them
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and mode.client.containers.list(
            all=True, ignore_removed=True, filters={"label": f"com.docker.swarm.service.name={mode.name}"}):
        time.sleep(0.5)
    while time.monotonic() < deadline and any(mode.client.containers.list(
            all=True, ignore_removed=True, filters={"label": f"com.docker.swarm.service.name={n}"})
            for n in mode.broker().names()):
        time.sleep(0.5)
    for c in mode.client.containers.list(all=True, ignore_removed=True, filters=eng.owned(mode.project.name)):
        c.remove(force=True)  # helpers left by an interrupted deploy
    for volume in mode.client.volumes.list(filters=eng.owned(mode.project.name)):
        try:
            volume.remove(force=True)
            removed.append(volume.name)
        except Exception:  # noqa: BLE001 - still in use by a task on its way out: the next remove takes it
            pass
    for secret in mode.client.secrets.list(filters={"label": f"{eng.SERVICE}={mode.project.name}"}):
        secret.remove()
        removed.append(secret.name)
    for net in mode.client.networks.list(filters=eng.owned(mode.project.name)):
        for _ in range(20):
            try:
                net.remove()
                removed.append(net.name)
                break
            except Exception:  # noqa: BLE001 - endpoints of stopping tasks linger a moment
                time.sleep(0.5)
    return removed


def container_health(client: Any, container: Any) -> tuple[str, str, dict[str, str]]:
    """(state, human detail, counters) of one container, OOM kills included (from the engine's events)."""
    container.reload()
    st = container.attrs["State"]
    restarts = int(container.attrs.get("RestartCount", 0))
    since = parse_time(container.attrs["Created"])
    ooms = sum(1 for _ in client.events(since=int(since.timestamp()), until=int(time.time()) + 1,
                                        filters={"container": container.id, "event": "oom"}, decode=True))
    health = (st.get("Health") or {}).get("Status", "none")
    if health == "starting" and st["Status"] == "running":
        # The engine has not probed yet (every 5 s): probe now with the same command.
        code, _ = container.exec_run(hardening.HEALTH_CMD[1:], user=container.attrs["Config"]["User"] or None)
        health = "healthy" if code == 0 else "starting"
    if st["Status"] == "running":
        state = "running" if health in ("healthy", "none") else health
    elif st.get("OOMKilled"):
        state = "oom-killed"
    else:
        state = st["Status"]
    parts = [f"container {st['Status']}, health {health}", f"restarted {restarts} time(s)"]
    ooms = max(ooms, int(bool(st.get("OOMKilled"))))
    if ooms:
        limit = container.attrs["HostConfig"]["Memory"] // 2**20
        parts.append(f"OOM-killed {ooms} time(s) (memory limit {limit} MB)")
    if st.get("ExitCode"):
        parts.append(f"last exit code {st['ExitCode']}")
    return state, "; ".join(parts), {"restarts": str(restarts), "oom_kills": str(ooms)}


def parse_time(value: str) -> datetime:
    # Docker gives nanoseconds: 2026-11-22T14:12:48.123456789Z
    head, _, frac = value.rstrip("Z").partition(".")
    return datetime.fromisoformat(head + "." + (frac + "000000")[:6] + "+00:00")


def container_logs(container: Any, function: str | None, since: datetime | None,
                   follow: bool) -> Iterator[LogRecord]:
    kwargs: dict[str, Any] = {"timestamps": True, "stream": True, "follow": follow}
    if since is not None:
        kwargs["since"] = since
    buf = b""
    for chunk in container.logs(**kwargs):
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            record = log_record(line.decode(errors="replace"), function)
            if record is not None:
                yield record


def log_record(line: str, function: str | None) -> LogRecord | None:
    stamp, _, message = line.partition(" ")
    try:
        when = parse_time(stamp)
    except ValueError:
        return None
    name = ""
    try:
        data = json.loads(message)
        if isinstance(data, dict):
            if data.get("path") == "/healthz":
                return None  # the engine's health probe, once a second: noise for a reader
            name = str(data.get("function", ""))
    except ValueError:
        pass
    if function is not None and name != function:
        return None
    return LogRecord(when, name or "-", message)
