"""The supervisor as a process, seen from the deploying side: start it (it binds the port once), find
processes of a deployment whose supervisor no longer answers, stop them, wait until they are gone. Only
pids whose command line is still ours are touched: a pid may have been reused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from multicloud.errors import OperationError
from multicloud.ports import port_taken
from multicloud.project import Project
from multicloud.provider import Progress
from multicloud.state import read_state, write_state

from . import control
from .broker import broker_for, recorded_port
from .settings import LocalSettings

SUPERVISOR_START_TIMEOUT = 20.0
OURS = (b"multicloud.providers.local.supervisor", b"multicloud.runtime.server")


def start_supervisor(project: Project, settings: LocalSettings, progress: Progress, attempt: int = 0
                     ) -> dict[str, Any]:
    """Start the supervisor on the spec's port (else the remembered one, else a free one); its status."""
    rundir = control.run_dir(project)
    state = read_state(project, "local")
    port = settings.port or int(state.get("port") or 0)
    if port and attempt == 0 and port_taken(settings.host, port) and not ours_alive(state):
        if settings.port:  # another program holds the port the spec asks for: say so now
            raise OperationError(
                f"port {port} on {settings.host} is held by another program",
                fix=f"stop that program (e.g. `ss -ltnp 'sport = :{port}'` names it), or choose another "
                    "targets.local.port (or remove it: a free port is picked)",
                where=project.locate(("targets", "local", "port")))
        progress(f"local: port {port} is taken by another program now; picking a free one")
        write_state(project, "local", {**state, "port": 0})
        state, port = read_state(project, "local"), 0
    broker_port = recorded_port(rundir)
    if port and port == broker_port and not settings.port:
        port = 0  # a free port taken earlier that the broker has recorded since: the broker keeps it
    sock_path = control.control_path(rundir)
    rundir.mkdir(parents=True, exist_ok=True)
    progress(f"local: starting the supervisor on {settings.host}:{port or 'a free port'}")
    cmd = [sys.executable, "-m", "multicloud.providers.local.supervisor", "--dir", str(rundir),
           "--control", str(sock_path), "--host", settings.host, "--port", str(port)]
    if broker_port:
        cmd += ["--avoid-port", str(broker_port)]
    with (rundir / "supervisor.log").open("ab") as out:
        proc = subprocess.Popen(cmd, cwd=rundir, stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    deadline = time.monotonic() + SUPERVISOR_START_TIMEOUT
    while time.monotonic() < deadline:
        status = control.reachable(sock_path)
        if status is not None:
            return status
        if proc.poll() is not None:
            tail = (rundir / "supervisor.log").read_text(errors="replace").strip().splitlines()[-1:]
            if port and "cannot listen" in "".join(tail) and attempt < 10:
                time.sleep(0.5)  # the previous server may still be draining on its way out
                return start_supervisor(project, settings, progress, attempt + 1)
            if port and not settings.port and "cannot listen" in "".join(tail):
                # the remembered port was taken by something else: take a free one (the state records it)
                write_state(project, "local", {**state, "port": 0})
                return start_supervisor(project, settings, progress, attempt + 1)
            raise OperationError(
                f"the local supervisor exited: {' '.join(tail) or proc.returncode}",
                fix="choose another `targets.local.port` or free the port",
                where=str(rundir / "supervisor.log"),
            )
        time.sleep(0.05)
    raise OperationError("the local supervisor did not start in time", where=str(rundir / "supervisor.log"))


def kill_stale(project: Project, settings: LocalSettings, state: dict[str, Any]) -> None:
    """Processes of a supervisor that no longer answers: SIGTERM (they drain) and wait a little."""
    pids = []
    broker_pid = broker_for(project, settings).stale_pid()
    if broker_pid is not None:
        os.kill(broker_pid, signal.SIGTERM)
        pids.append(broker_pid)
    for key in ("supervisor_pid", "server_pid"):
        pid = state.get(key)
        if pid and alive(int(pid)) and _ours(int(pid)):
            os.kill(int(pid), signal.SIGTERM)
            pids.append(int(pid))
    deadline = time.monotonic() + 15
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)


def ours_alive(state: dict[str, Any]) -> bool:
    """Whether a supervisor or server of this deployment still runs (it may hold the port while draining)."""
    return any(isinstance(pid, int) and alive(pid) and _ours(pid)
               for pid in (state.get("supervisor_pid"), state.get("server_pid")))


def _ours(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return any(marker in cmdline for marker in OURS)


def wait_gone(pid: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while isinstance(pid, int) and alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours counts as gone
    try:
        return "Z" not in Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return True
