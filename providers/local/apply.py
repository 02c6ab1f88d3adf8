"""apply: execute a local plan's release step and nothing else. Copy the build into an immutable release
folder, start the supervisor if it is not running (it binds the port once: a free one, remembered in state
and kept across deploys) and ask it to swap to the new release without dropping a request (supervisor.py
explains how). The previous release is kept for rollback; older ones are deleted."""

from __future__ import annotations

import os
import secrets
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from multicloud.broker.topology import topology
from multicloud.errors import OperationError
from multicloud.private_runtime import warn_short_secrets
from multicloud.project import Project
from multicloud.provider import BuildResult, DeployResult, Endpoint, Plan, Progress
from multicloud.spec.models import HttpTrigger
from multicloud.state import read_state, write_state

from . import broker, control, processes
from .secret_values import fingerprint, secret_env, secrets_view
from .settings import LocalSettings


def apply(project: Project, settings: LocalSettings, plan: Plan, build: BuildResult, progress: Progress
          ) -> DeployResult:
    """Move the server if its address changed, then swap to the new release (the supervisor's `deploy`
    call); with a noop plan, check that the server still serves and record it."""
    rundir = control.run_dir(project)
    state = read_state(project, "local")
    sock_path = control.control_path(rundir)
    live = control.reachable(sock_path)
    step = next((s for s in plan.steps if s.op == "switch"), None)
    if step is not None and live is not None and step.args.get("move"):
        # the address itself changed: the old supervisor drains and goes, a new one binds the new address
        progress(f"local: moving from {live.get('host')}:{live.get('port')} to "
                 f"{settings.host}:{settings.port or 'a free port'}")
        control.call(sock_path, {"cmd": "stop"}, timeout=300)
        processes.wait_gone(live.get("supervisor_pid"))
        write_state(project, "local", {**state, "port": settings.port or 0, "digest": None})
        state = read_state(project, "local")
        live = None
    warn_short_secrets(secrets_view(project), progress)
    if step is None:
        if live is None:  # planned as serving, stopped since: no write the plan did not list
            raise OperationError("the local server stopped after the plan was made",
                                 fix="run `multicloud deploy --target local` again (it plans afresh)")
        answer = live
        progress("local: unchanged, still serving")
    else:
        if step.detail.startswith("secret values"):
            progress("local: secret values changed: restarting the release with the new values")
        answer = switch(project, settings, release(rundir, build, progress), live, state, progress)
    changed = step is not None
    previous = state.get("previous")
    if changed and state.get("release") and state.get("release") != answer.get("release"):
        previous = {"release": state["release"], "digest": state.get("digest")}
    if changed:
        prune(rundir, {str(answer.get("release")), str((previous or {}).get("release"))})
        topo = topology(project, "local")
        if not topo.empty:
            broker.broker_for(project, settings).admin().prune(topo, progress)  # consumers no function reads now
    return record(project, settings, answer, build.digest, previous, changed, state)


def release(rundir: Path, build: BuildResult, progress: Progress) -> Path:
    """The build copied into `releases/<digest>` (once): the build folder can change under a running
    server, a release never does."""
    releases = rundir / "releases"
    folder = releases / build.digest[:16]
    if not (folder / "runtime.json").is_file():
        progress(f"local: new release {folder.name}")
        tmp = releases / f".{folder.name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        shutil.copytree(build.out_dir / "app", tmp / "app")
        shutil.copytree(build.out_dir / "deps", tmp / "deps")
        shutil.copy2(build.out_dir / "runtime.json", tmp / "runtime.json")
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    return folder


def prune(rundir: Path, keep: set[str]) -> None:
    """Keep the live release and the one before it (for rollback); delete older ones."""
    releases = rundir / "releases"
    if not releases.is_dir():
        return
    for old in releases.iterdir():
        if old.is_dir() and not old.name.startswith(".") and str(old) not in keep:
            shutil.rmtree(old, ignore_errors=True)


def switch(project: Project, settings: LocalSettings, folder: Path, live: dict[str, Any] | None,
           state: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """Make `folder` the serving release (starting the supervisor if needed); the supervisor's answer."""
    env = secret_env(project)
    rundir = control.run_dir(project)
    sock_path = control.control_path(rundir)
    if live is None:
        processes.kill_stale(project, settings, state)  # a supervisor that died (kill -9, reboot) keeps no port
        processes.start_supervisor(project, settings, progress)
    broker.ensure(project, settings, progress)
    progress(f"local: switching to release {folder.name}")
    salt = secrets.token_hex(16)
    answer = control.call(sock_path, {"cmd": "deploy", "release": str(folder), "env": env,
                                      "secrets_fp": {"salt": salt, "digest": fingerprint(project, salt)}},
                          timeout=180)
    if not answer.get("ok"):
        raise OperationError(
            f"the new release did not start: {answer.get('error')}",
            fix="fix the error and deploy again; the previous release keeps serving"
            if answer.get("state") == "running" else "fix the error and deploy again",
            where=str(rundir / "service.log"),
        )
    return answer


def record(project: Project, settings: LocalSettings, answer: dict[str, Any], digest: str,
           previous: dict[str, Any] | None, changed: bool, state: dict[str, Any]) -> DeployResult:
    """Write the deploy state (what status, invoke and the next plan read) and report the deploy."""
    rundir = control.run_dir(project)
    key_path = control.key_path(rundir)
    host, port = settings.host, int(answer["port"])
    url = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
    version = digest[:12]
    write_state(project, "local", {
        "host": host, "port": port, "url": url, "digest": digest, "version": version,
        "release": answer.get("release"), "previous": previous,
        "control": str(control.control_path(rundir)), "supervisor_pid": answer.get("supervisor_pid"),
        "server_pid": answer.get("server_pid"), "log": str(rundir / "service.log"),
        "key_file": str(key_path) if key_path.exists() else None,
        "deployed_at": datetime.now(timezone.utc).isoformat() if changed else state.get("deployed_at"),
    })
    return DeployResult("local", version, changed, endpoints(project, url), {
        "url": url, "log": str(rundir / "service.log"), "server_pid": str(answer.get("server_pid")),
        "generation": str(answer.get("generation")),
    })


def endpoints(project: Project, url: str) -> tuple[Endpoint, ...]:
    out: list[Endpoint] = []
    for fn in project.functions_for("local"):
        routes = [t.config for t in fn.triggers if isinstance(t.config, HttpTrigger)]
        for route in routes:
            out.append(Endpoint(fn.name, url + route.path, route.auth))
        if not routes:
            out.append(Endpoint(fn.name, f"{url}/_events/{fn.name}", "none"))
    return tuple(out)
