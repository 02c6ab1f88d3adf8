"""The `local` target: the private runtime as a supervised background process on this machine.

build  -> `multicloud.private_runtime.stage_artifact`: code + vendored runtime + deps (pip --target, host
          platform) + runtime.json; unchanged inputs are not rebuilt.
deploy -> copy the build into an immutable release folder, start the supervisor if it is not running
          (it binds the port once: a free one, remembered in state and kept across deploys) and ask it to
          swap to the new release without dropping a request (supervisor.py explains how).
invoke -> HTTP to the route, or a generated CloudEvent to `/_events/<function>`.
logs   -> the runtime's JSON log file. status -> the supervisor and /healthz. remove -> drain, stop, delete.
Needs nothing but Python: no engine, no SDK.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from multicloud.broker.hooks import BrokerEvents
from multicloud.errors import OperationError, UsageError
from multicloud.plan import FieldChange, Step, fingerprint
from multicloud.ports import port_taken
from multicloud.private_runtime import warn_short_secrets
from multicloud.provider import (
    Artifact,
    BuildResult,
    DeployResult,
    Endpoint,
    FunctionStatus,
    Invocation,
    InvokeRequest,
    InvokeResult,
    LogRecord,
    Plan,
    Progress,
    RemoveResult,
    StatusReport,
)
from multicloud.spec.models import HttpTrigger
from multicloud.state import clear_state, read_state, write_state

from . import control
from .settings import LocalSettings

SUPERVISOR_START_TIMEOUT = 20.0


class LocalProvider(BrokerEvents[LocalSettings]):
    name = "local"
    settings_class = LocalSettings

    @property
    def rundir(self) -> Path:
        return control.run_dir(self.project)

    @property
    def key_path(self) -> Path:
        return self.rundir / "auth.key"

    def _needs_key(self) -> bool:
        from multicloud.private_runtime import holds_key

        return holds_key(self.project, "local")  # `auth: key` routes, or the HTTP intake of queues and streams

    def _ensure_key(self) -> None:
        if self.key_path.exists():
            return
        self.rundir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32) + "\n")

    # ---- broker (queue, stream and storage triggers) ---------------------------------------------------
    def _broker(self) -> Any:
        from .broker import LocalBroker

        state = read_state(self.project, "local")
        live = control.reachable(control.control_path(self.rundir)) or {}
        ports = {self.settings.port or 0, int(state.get("port") or 0), int(live.get("port") or 0)} - {0}
        return LocalBroker(self.rundir, self._topology(), avoid=frozenset(ports))

    def _broker_admin(self) -> Any:
        broker = self._broker()
        if not broker.config_path.is_file():
            raise OperationError("the service's broker was never started on the local target",
                                 fix="run `multicloud deploy --target local`")
        return broker.admin()

    def _check(self) -> None:
        from multicloud.private_runtime import check_runtime_config

        super()._check()
        check_runtime_config(self.project, "local")
        topo = self._topology()
        if not topo.empty:
            from .broker import require_binary

            require_binary(topo)

    def _ensure_broker(self, progress: Progress) -> None:
        """Start (or keep) the service's nats-server under the supervisor and declare its streams; stop it
        when no function reads events any more."""
        from .broker import require_binary

        topo = self._topology()
        sock_path = control.control_path(self.rundir)
        if topo.empty:
            if (control.reachable(sock_path) or {}).get("broker"):
                progress("local: stopping the broker (no function reads a queue, stream or bucket now)")
                control.call(sock_path, {"cmd": "broker-stop"}, timeout=60)
            return
        broker = self._broker()
        broker.prepare()
        answer = control.call(sock_path, {"cmd": "broker", "binary": str(require_binary(topo)),
                                          "config": str(broker.config_path), "port": broker.port()}, timeout=60)
        if not answer.get("ok"):
            raise OperationError(f"the local broker did not start: {answer.get('error')}",
                                 fix="see .multicloud/local/broker.log", where=str(broker.config_path))
        admin = broker.admin()
        admin.wait_ready(30)
        admin.ensure(topo, 1, progress)

    # ---- build -------------------------------------------------------------------------------------
    def _build(self, out_dir: Path, progress: Progress) -> BuildResult:
        from multicloud.private_runtime import stage_artifact

        key_ref = None
        if self._needs_key():
            self._ensure_key()
            key_ref = f"file:{self.key_path.resolve()}"
        access = None if self._topology().empty else self._broker().prepare()
        staged = stage_artifact(self.project, "local", out_dir, progress, auth_key_ref=key_ref, broker=access)
        artifacts = tuple(
            Artifact(fn.name, out_dir, fn.handler, staged.size, staged.digest)
            for fn in self.project.functions_for("local")
        )
        return BuildResult("local", out_dir, artifacts, staged.digest)

    # ---- plan --------------------------------------------------------------------------------------
    # Steps: one per function (what it experiences, informational) and one executable step, the release
    # swap that serves them all (`op="switch"`: one `deploy` call to the supervisor). See multicloud.plan.
    def _plan(self, build: BuildResult | None, progress: Progress) -> Plan:
        state = read_state(self.project, "local")
        live = control.reachable(Path(state["control"])) if state.get("control") else None
        running = bool(live and live.get("state") == "running")
        moving = live is not None and self._address_changed(live)
        same_secrets = running and self._same_secrets(live.get("secrets_fp") if live else None)
        if not running:
            action, detail = "create", ("start the local server" if not state
                                        else "drift: the local server is not running (stopped outside multicloud)")
        elif moving:
            action, detail = "update", f"move to {self.settings.host}:{self.settings.port or 'a free port'}"
        elif build is None or build.digest != state.get("digest"):
            action, detail = "update", "swap to the new release"
        elif not same_secrets:
            action, detail = "update", "secret values changed: restart"
        else:
            action, detail = "noop", ""
        steps = [Step("noop" if action == "noop" else action, "function", fn.name, detail)  # type: ignore[arg-type]
                 for fn in self.project.functions_for("local")]
        release = build.digest[:16] if build else str(state.get("digest") or "")[:16]
        fields = [] if action == "noop" else self._release_fields(state, live, release, same_secrets)
        steps.append(Step(action, "local release", release, detail, tuple(fields),  # type: ignore[arg-type]
                          "" if action == "noop" else "switch", {"release": release, "move": moving},
                          () if action == "noop" else ("supervisor:deploy",)))
        observed = {"local server": fingerprint({k: (live or {}).get(k) for k in (
            "state", "release", "generation", "supervisor_pid", "server_pid", "host", "port")}),
            "deploy state": fingerprint({k: state.get(k) for k in ("digest", "release", "port", "host")})}
        return Plan("local", tuple(steps), observed=observed)

    def _address_changed(self, live: dict[str, Any]) -> bool:
        wanted_port = self.settings.port
        return bool((wanted_port and live.get("port") != wanted_port)
                    or live.get("host") != _address(self.settings.host))

    def _release_fields(self, state: dict[str, Any], live: dict[str, Any] | None, release: str,
                        same_secrets: bool) -> list[FieldChange]:
        fields = [FieldChange("release", str(state.get("digest") or "")[:16] or None, release)]
        recorded = (live or {}).get("secrets_fp")
        if not same_secrets and isinstance(recorded, dict) and isinstance(recorded.get("salt"), str):
            # salted with the running server's salt, which only that server holds: no value can be guessed
            fields.append(FieldChange("secret values", "sha256:" + str(recorded.get("digest"))[:12],
                                      "sha256:" + self._fingerprint(recorded["salt"])[:12], secret=True))
        return fields

    # ---- deploy ------------------------------------------------------------------------------------
    def _release(self, build: BuildResult, progress: Progress) -> Path:
        releases = self.rundir / "releases"
        release = releases / build.digest[:16]
        if not (release / "runtime.json").is_file():
            progress(f"local: new release {release.name}")
            tmp = releases / f".{release.name}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            shutil.copytree(build.out_dir / "app", tmp / "app")
            shutil.copytree(build.out_dir / "deps", tmp / "deps")
            shutil.copy2(build.out_dir / "runtime.json", tmp / "runtime.json")
            shutil.rmtree(release, ignore_errors=True)
            os.replace(tmp, release)
        return release

    def _prune(self, keep: set[str]) -> None:
        """Keep the live release and the one before it (for rollback); delete older ones."""
        releases = self.rundir / "releases"
        if not releases.is_dir():
            return
        for old in releases.iterdir():
            if old.is_dir() and not old.name.startswith(".") and str(old) not in keep:
                shutil.rmtree(old, ignore_errors=True)

    def _secret_env(self) -> dict[str, str]:
        """Values of `env:` references, read from this shell now and handed over in memory."""
        out: dict[str, str] = {}
        for fn in self.project.functions_for("local"):
            for name, ref in fn.secrets.items():
                scheme, _, locator = ref.partition(":")
                if scheme != "env":
                    continue
                if locator not in os.environ:
                    raise OperationError(
                        f"secret {name} of function {fn.name} references env:{locator}, which is not set",
                        fix=f"export {locator} in the shell that deploys",
                        where=f"functions.{fn.name}.secrets.{name}",
                    )
                out[locator] = os.environ[locator]
        return out

    def _secrets_view(self) -> dict[str, str]:
        """Every secret value the server will start with, read here now: `env:` values from this shell, and
        the contents of `file:` references (the server reads those itself; a rotated file must restart it)."""
        view = {f"env:{k}": v for k, v in self._secret_env().items()}
        for fn in self.project.functions_for("local"):
            for ref in fn.secrets.values():
                scheme, _, locator = ref.partition(":")
                if scheme == "file":
                    try:
                        view[ref] = Path(locator).expanduser().read_text()
                    except OSError as exc:
                        view[ref] = f"<unreadable: {exc.strerror}>"  # the server will say so at start
        return view

    def _fingerprint(self, salt: str) -> str:
        """Salted hash of the secret values; the supervisor keeps it in memory only (never on disk)."""
        import hashlib
        import json

        return hashlib.sha256((salt + json.dumps(self._secrets_view(), sort_keys=True)).encode()).hexdigest()

    def _same_secrets(self, recorded: object) -> bool:
        if not isinstance(recorded, dict) or not isinstance(recorded.get("salt"), str):
            return not self._secrets_view()  # a supervisor from before fingerprints: only if there are none
        return bool(recorded.get("digest") == self._fingerprint(recorded["salt"]))

    def _start_supervisor(self, progress: Progress, attempt: int = 0) -> dict[str, Any]:
        state = read_state(self.project, "local")
        port = self.settings.port or int(state.get("port") or 0)
        if port and attempt == 0 and port_taken(self.settings.host, port) and not _ours_alive(state):
            if self.settings.port:  # another program holds the port the spec asks for: say so now
                raise OperationError(
                    f"port {port} on {self.settings.host} is held by another program",
                    fix=f"stop that program (e.g. `ss -ltnp 'sport = :{port}'` names it), or choose another "
                        "targets.local.port (or remove it: a free port is picked)",
                    where=self.project.locate(("targets", "local", "port")))
            progress(f"local: port {port} is taken by another program now; picking a free one")
            write_state(self.project, "local", {**state, "port": 0})
            state, port = read_state(self.project, "local"), 0
        from .broker import recorded_port

        broker_port = recorded_port(self.rundir)
        if port and port == broker_port and not self.settings.port:
            port = 0  # a free port taken earlier that the broker has recorded since: the broker keeps it
        sock_path = control.control_path(self.rundir)
        self.rundir.mkdir(parents=True, exist_ok=True)
        progress(f"local: starting the supervisor on {self.settings.host}:{port or 'a free port'}")
        cmd = [sys.executable, "-m", "multicloud.providers.local.supervisor", "--dir", str(self.rundir),
               "--control", str(sock_path), "--host", self.settings.host, "--port", str(port)]
        if broker_port:
            cmd += ["--avoid-port", str(broker_port)]
        with (self.rundir / "supervisor.log").open("ab") as out:
            proc = subprocess.Popen(cmd, cwd=self.rundir, stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        deadline = time.monotonic() + SUPERVISOR_START_TIMEOUT
        while time.monotonic() < deadline:
            status = control.reachable(sock_path)
            if status is not None:
                return status
            if proc.poll() is not None:
                tail = (self.rundir / "supervisor.log").read_text(errors="replace").strip().splitlines()[-1:]
                if port and "cannot listen" in "".join(tail) and attempt < 10:
                    time.sleep(0.5)  # the previous server may still be draining on its way out
                    return self._start_supervisor(progress, attempt + 1)
                if port and not self.settings.port and "cannot listen" in "".join(tail):
                    # the remembered port was taken by something else: take a free one (the state records it)
                    write_state(self.project, "local", {**state, "port": 0})
                    return self._start_supervisor(progress, attempt + 1)
                raise OperationError(
                    f"the local supervisor exited: {' '.join(tail) or proc.returncode}",
                    fix="choose another `targets.local.port` or free the port",
                    where=str(self.rundir / "supervisor.log"),
                )
            time.sleep(0.05)
        raise OperationError("the local supervisor did not start in time", where=str(self.rundir / "supervisor.log"))

    def _apply(self, plan: Plan, build: BuildResult, progress: Progress) -> DeployResult:
        """Execute the plan's release step (nothing when it is a noop): move the server if its address
        changed, then swap to the new release (the supervisor's `deploy` call)."""
        state = read_state(self.project, "local")
        sock_path = control.control_path(self.rundir)
        live = control.reachable(sock_path)
        step = next((s for s in plan.steps if s.op == "switch"), None)
        if step is not None and live is not None and step.args.get("move"):
            # the address itself changed: the old supervisor drains and goes, a new one binds the new address
            progress(f"local: moving from {live.get('host')}:{live.get('port')} to "
                     f"{self.settings.host}:{self.settings.port or 'a free port'}")
            control.call(sock_path, {"cmd": "stop"}, timeout=300)
            self._wait_gone(live.get("supervisor_pid"))
            write_state(self.project, "local", {**state, "port": self.settings.port or 0, "digest": None})
            state = read_state(self.project, "local")
            live = None
        warn_short_secrets(self._secrets_view(), progress)
        changed = step is not None
        if step is None:
            if live is None:  # planned as serving, stopped since: no write the plan did not list
                raise OperationError("the local server stopped after the plan was made",
                                     fix="run `multicloud deploy --target local` again (it plans afresh)")
            answer = live
            progress("local: unchanged, still serving")
        else:
            if step is not None and step.detail.startswith("secret values"):
                progress("local: secret values changed: restarting the release with the new values")
            release = self._release(build, progress)
            answer = self._switch(release, live, state, progress)
            changed = True
        previous = state.get("previous")
        if changed and state.get("release") and state.get("release") != answer.get("release"):
            previous = {"release": state["release"], "digest": state.get("digest")}
        if changed:
            self._prune({str(answer.get("release")), str((previous or {}).get("release"))})
            if not self._topology().empty:
                self._broker().admin().prune(self._topology(), progress)  # consumers no function reads now
        return self._record(answer, build.digest, previous, changed, state)

    def _switch(self, release: Path, live: dict[str, Any] | None, state: dict[str, Any],
                progress: Progress) -> dict[str, Any]:
        """Make `release` the serving one (starting the supervisor if needed); the supervisor's answer."""
        env = self._secret_env()
        sock_path = control.control_path(self.rundir)
        if live is None:
            self._kill_stale(state)  # a supervisor that died (kill -9, reboot) must not keep the port
            self._start_supervisor(progress)
        self._ensure_broker(progress)
        progress(f"local: switching to release {release.name}")
        salt = secrets.token_hex(16)
        fingerprint = {"salt": salt, "digest": self._fingerprint(salt)}
        answer = control.call(sock_path, {"cmd": "deploy", "release": str(release), "env": env,
                                          "secrets_fp": fingerprint}, timeout=180)
        if not answer.get("ok"):
            raise OperationError(
                f"the new release did not start: {answer.get('error')}",
                fix="fix the error and deploy again; the previous release keeps serving"
                if answer.get("state") == "running" else "fix the error and deploy again",
                where=str(self.rundir / "service.log"),
            )
        return answer

    def _record(self, answer: dict[str, Any], digest: str, previous: dict[str, Any] | None, changed: bool,
                state: dict[str, Any]) -> DeployResult:
        host, port = self.settings.host, int(answer["port"])
        url = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
        version = digest[:12]
        write_state(self.project, "local", {
            "host": host, "port": port, "url": url, "digest": digest, "version": version,
            "release": answer.get("release"), "previous": previous,
            "control": str(control.control_path(self.rundir)), "supervisor_pid": answer.get("supervisor_pid"),
            "server_pid": answer.get("server_pid"), "log": str(self.rundir / "service.log"),
            "key_file": str(self.key_path) if self.key_path.exists() else None,
            "deployed_at": datetime.now(timezone.utc).isoformat() if changed else state.get("deployed_at"),
        })
        return DeployResult("local", version, changed, self._endpoints(url), {
            "url": url, "log": str(self.rundir / "service.log"), "server_pid": str(answer.get("server_pid")),
            "generation": str(answer.get("generation")),
        })

    # ---- rollback ----------------------------------------------------------------------------------
    def _rollback(self, progress: Progress) -> DeployResult:
        state = self._deployed_state()
        previous = state.get("previous") or {}
        release = Path(str(previous.get("release") or ""))
        if not previous or not (release / "runtime.json").is_file():
            raise OperationError("there is no previous local release to roll back to",
                                 fix="deploy at least twice; the release before the live one is kept")
        live = control.reachable(control.control_path(self.rundir))
        answer = self._switch(release, live, state, progress)
        back = {"release": state.get("release"), "digest": state.get("digest")}
        return self._record(answer, str(previous.get("digest")), back, True, state)

    def _endpoints(self, url: str) -> tuple[Endpoint, ...]:
        out: list[Endpoint] = []
        for fn in self.project.functions_for("local"):
            routes = [t.config for t in fn.triggers if isinstance(t.config, HttpTrigger)]
            for route in routes:
                out.append(Endpoint(fn.name, url + route.path, route.auth))
            if not routes:
                out.append(Endpoint(fn.name, f"{url}/_events/{fn.name}", "none"))
        return tuple(out)

    # ---- invoke ------------------------------------------------------------------------------------
    def _deployed_state(self) -> dict[str, Any]:
        state = read_state(self.project, "local")
        if not state.get("url"):
            raise OperationError("the service is not deployed to the local target",
                                 fix="run `multicloud deploy --target local`")
        return state

    def _invoke(self, request: InvokeRequest) -> InvokeResult:
        from . import invoke

        state = self._deployed_state()
        fn = self.project.function("local", request.function)
        headers = dict(request.headers)
        timeout = fn.timeout + 10

        def add_key() -> None:
            if not any(k.lower() in ("x-multicloud-key", "authorization") for k in headers):
                key_file = state.get("key_file")
                if key_file and Path(key_file).is_file():
                    headers[invoke.KEY_HEADER] = Path(key_file).read_text().strip()

        if request.trigger == "http":
            path, needs_key = invoke.http_route(fn, request)
            if needs_key:
                add_key()
            return invoke.send(state["url"], request.method, invoke.with_query(path, request.query), headers,
                               request.body, fn.name, timeout)
        if request.trigger not in invoke.EVENT_TYPES:
            raise UsageError(f"unknown trigger {request.trigger!r}", fix="use http, queue, stream, storage, schedule "
                             "or direct")
        headers.setdefault("Content-Type", "application/cloudevents+json")
        if any(isinstance(t.config, HttpTrigger) and t.config.auth == "key" for t in fn.triggers):
            add_key()  # the runtime guards the events endpoint of a key-protected function too
        return invoke.send(state["url"], "POST", invoke.events_path(fn.name), headers, invoke.cloudevent(fn, request),
                           fn.name, timeout)

    # ---- logs --------------------------------------------------------------------------------------
    def _logs(self, function: str | None, since: datetime | None, follow: bool) -> Iterator[LogRecord]:
        from . import logs

        if function is not None:
            self.project.function("local", function)  # a clear error for an unknown name
        yield from logs.read(self.rundir / "service.log", function, since, follow)

    def _invocations(self, function: str | None, since: datetime, limit: int) -> list[Invocation]:
        from multicloud.access_log import from_lines, tail_lines

        return from_lines(tail_lines(self.rundir / "service.log"), function, since, limit)

    # ---- status ------------------------------------------------------------------------------------
    def _status(self) -> StatusReport:
        state = read_state(self.project, "local")
        live = control.reachable(Path(state["control"])) if state.get("control") else None
        functions = self.project.functions_for("local")
        if not state or live is None:
            down = None
            if state:
                pid = state.get("supervisor_pid")
                down = (f"the local supervisor (pid {pid}) is not running: it died or was stopped outside "
                        "multicloud; `multicloud deploy --target local` starts it again")
            return StatusReport("local", False, tuple(
                FunctionStatus(fn.name, "stopped" if state else "missing", state.get("version")) for fn in functions
            ), {"detail": "no supervisor is running" if state else "never deployed"}, down)
        health = self._health(state["url"])
        server_state = live.get("state", "unknown")
        fn_state = "running" if server_state == "running" and health == 200 else (
            "draining" if health == 503 else str(server_state))
        endpoints: dict[str, str] = {}
        for endpoint in self._endpoints(state["url"]):
            endpoints.setdefault(endpoint.function, endpoint.url)
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
            FunctionStatus(fn.name, fn_state, state.get("version"), endpoints.get(fn.name), detail) for fn in functions
        ), details, down)

    @staticmethod
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

    # ---- remove ------------------------------------------------------------------------------------
    def _remove(self, progress: Progress) -> RemoveResult:
        state = read_state(self.project, "local")
        sock_path = Path(state["control"]) if state.get("control") else control.control_path(self.rundir)
        if control.reachable(sock_path) is not None:
            progress("local: draining and stopping the server")
            control.call(sock_path, {"cmd": "stop"}, timeout=300)
        else:
            self._kill_stale(state)
        self._wait_gone(state.get("supervisor_pid"))
        names = tuple(fn.name for fn in self.project.functions_for("local"))
        if (self.rundir / "broker").is_dir():
            names += ("broker (nats-server, its message store and credentials)",)
        shutil.rmtree(self.rundir / "releases", ignore_errors=True)
        shutil.rmtree(self.rundir / "broker", ignore_errors=True)
        self.key_path.unlink(missing_ok=True)
        sock_path.unlink(missing_ok=True)
        clear_state(self.project, "local")
        return RemoveResult("local", names if state else ())

    @staticmethod
    def _wait_gone(pid: object, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while isinstance(pid, int) and _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)

    def _kill_stale(self, state: dict[str, Any]) -> None:
        """Processes of a supervisor that no longer answers: SIGTERM (they drain) and wait a little.
        Only pids whose command line is still ours are touched (a pid may have been reused)."""
        pids = []
        broker_pid = self._broker().stale_pid()
        if broker_pid is not None:
            os.kill(broker_pid, signal.SIGTERM)
            pids.append(broker_pid)
        for key in ("supervisor_pid", "server_pid"):
            pid = state.get(key)
            if not pid or not _alive(int(pid)):
                continue
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"multicloud.providers.local.supervisor" in cmdline or b"multicloud.runtime.server" in cmdline:
                os.kill(int(pid), signal.SIGTERM)
                pids.append(int(pid))
        deadline = time.monotonic() + 15
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)


def _ours_alive(state: dict[str, Any]) -> bool:
    """Whether a supervisor or server of this deployment still runs (it may hold the port while draining)."""
    for key in ("supervisor_pid", "server_pid"):
        pid = state.get(key)
        if not isinstance(pid, int) or not _alive(pid):
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"multicloud.providers.local.supervisor" in cmdline or b"multicloud.runtime.server" in cmdline:
            return True
    return False


def _address(host: str) -> str:
    """The address a host name binds to (`localhost` -> 127.0.0.1), as the supervisor reports it."""
    import socket

    try:
        return str(socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][4][0])
    except OSError:
        return host


def _alive(pid: int) -> bool:
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
