"""ops: what runs against a deployed local target. invoke -> HTTP to the route, or a generated CloudEvent
to `/_events/<function>`; logs -> the runtime's JSON log file; status -> the supervisor and /healthz;
rollback -> swap back to the release kept before the live one; remove -> drain, stop, delete."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from multicloud.errors import OperationError, UsageError
from multicloud.project import Project
from multicloud.provider import (
    DeployResult,
    FunctionStatus,
    Invocation,
    InvokeRequest,
    InvokeResult,
    LogRecord,
    Progress,
    RemoveResult,
    StatusReport,
)
from multicloud.spec.models import HttpTrigger
from multicloud.state import clear_state, read_state

from . import control, processes
from .apply import endpoints, record, switch
from .settings import LocalSettings


def deployed_state(project: Project) -> dict[str, Any]:
    state = read_state(project, "local")
    if not state.get("url"):
        raise OperationError("the service is not deployed to the local target",
                             fix="run `multicloud deploy --target local`")
    return state


def rollback(project: Project, settings: LocalSettings, progress: Progress) -> DeployResult:
    state = deployed_state(project)
    previous = state.get("previous") or {}
    release = Path(str(previous.get("release") or ""))
    if not previous or not (release / "runtime.json").is_file():
        raise OperationError("there is no previous local release to roll back to",
                             fix="deploy at least twice; the release before the live one is kept")
    live = control.reachable(control.control_path(control.run_dir(project)))
    answer = switch(project, settings, release, live, state, progress)
    back = {"release": state.get("release"), "digest": state.get("digest")}
    return record(project, settings, answer, str(previous.get("digest")), back, True, state)


def invoke(project: Project, request: InvokeRequest) -> InvokeResult:
    from . import invoke as calls

    state = deployed_state(project)
    fn = project.function("local", request.function)
    headers = dict(request.headers)
    timeout = fn.timeout + 10

    def add_key() -> None:
        if not any(k.lower() in ("x-multicloud-key", "authorization") for k in headers):
            key_file = state.get("key_file")
            if key_file and Path(key_file).is_file():
                headers[calls.KEY_HEADER] = Path(key_file).read_text().strip()

    if request.trigger == "http":
        path, needs_key = calls.http_route(fn, request)
        if needs_key:
            add_key()
        return calls.send(state["url"], request.method, calls.with_query(path, request.query), headers,
                          request.body, fn.name, timeout)
    if request.trigger not in calls.EVENT_TYPES:
        raise UsageError(f"unknown trigger {request.trigger!r}", fix="use http, queue, stream, storage, schedule "
                         "or direct")
    headers.setdefault("Content-Type", "application/cloudevents+json")
    if any(isinstance(t.config, HttpTrigger) and t.config.auth == "key" for t in fn.triggers):
        add_key()  # the runtime guards the events endpoint of a key-protected function too
    return calls.send(state["url"], "POST", calls.events_path(fn.name), headers, calls.cloudevent(fn, request),
                      fn.name, timeout)


def logs(project: Project, function: str | None, since: datetime | None, follow: bool) -> Iterator[LogRecord]:
    from . import logs as log_file

    if function is not None:
        project.function("local", function)  # a clear error for an unknown name
    yield from log_file.read(control.run_dir(project) / "service.log", function, since, follow)


def invocations(project: Project, function: str | None, since: datetime, limit: int) -> list[Invocation]:
    from multicloud.access_log import from_lines, tail_lines

    return from_lines(tail_lines(control.run_dir(project) / "service.log"), function, since, limit)


def status(project: Project) -> StatusReport:
    state = read_state(project, "local")
    live = control.reachable(Path(state["control"])) if state.get("control") else None
    functions = project.functions_for("local")
    if not state or live is None:
        down = None
        if state:
            pid = state.get("supervisor_pid")
            down = (f"the local supervisor (pid {pid}) is not running: it died or was stopped outside "
                    "multicloud; `multicloud deploy --target local` starts it again")
        return StatusReport("local", False, tuple(
            FunctionStatus(fn.name, "stopped" if state else "missing", state.get("version")) for fn in functions
        ), {"detail": "no supervisor is running" if state else "never deployed"}, down)
    health = _health(state["url"])
    server_state = live.get("state", "unknown")
    fn_state = "running" if server_state == "running" and health == 200 else (
        "draining" if health == 503 else str(server_state))
    urls: dict[str, str] = {}
    for endpoint in endpoints(project, state["url"]):
        urls.setdefault(endpoint.function, endpoint.url)
    detail = f"pid {live.get('server_pid')}, generation {live.get('generation')}"
    if live.get("last_error"):
        detail += f"; last error: {live['last_error']}"
    down = None if server_state == "running" and health in (200, 503) else (  # 503: draining a swap
        f"the server is {server_state}" + (f" (health check answered {health})" if health else
                                           " (no answer on its port)")
        + (f"; last error: {live['last_error']}" if live.get("last_error") else ""))
    details = {"url": state["url"], "supervisor_pid": str(live.get("supervisor_pid")),
               "server_pid": str(live.get("server_pid")), "restarts": str(live.get("restarts")),
               "log": str(state.get("log"))}
    broker = live.get("broker")
    if broker:
        details["broker"] = (f"nats-server pid {broker.get('pid')} on 127.0.0.1:{broker.get('port')}, "
                             f"{broker.get('state')}, restarted {broker.get('restarts')} time(s)")
    return StatusReport("local", server_state == "running", tuple(
        FunctionStatus(fn.name, fn_state, state.get("version"), urls.get(fn.name), detail) for fn in functions
    ), details, down)


def _health(url: str) -> int | None:
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=5)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def remove(project: Project, settings: LocalSettings, progress: Progress) -> RemoveResult:
    rundir = control.run_dir(project)
    state = read_state(project, "local")
    sock_path = Path(state["control"]) if state.get("control") else control.control_path(rundir)
    if control.reachable(sock_path) is not None:
        progress("local: draining and stopping the server")
        control.call(sock_path, {"cmd": "stop"}, timeout=300)
    else:
        processes.kill_stale(project, settings, state)
    processes.wait_gone(state.get("supervisor_pid"))
    names = tuple(fn.name for fn in project.functions_for("local"))
    if (rundir / "broker").is_dir():
        names += ("broker (nats-server, its message store and credentials)",)
    shutil.rmtree(rundir / "releases", ignore_errors=True)
    shutil.rmtree(rundir / "broker", ignore_errors=True)
    control.key_path(rundir).unlink(missing_ok=True)
    sock_path.unlink(missing_ok=True)
    clear_state(project, "local")
    return RemoveResult("local", names if state else ())
