"""The private HTTP runtime: one process serves every function of a service, on uvicorn.

    python -m multicloud.runtime.server --config runtime.json --port 8080 [--host 0.0.0.0]
    python -m multicloud.runtime.server --config runtime.json --fd 3 [--ready-fd 4] [--parent-pid P]

It powers the `local` target (behind a supervisor that owns the listening socket and passes it with
`--fd`, so a redeploy swaps processes without dropping a connection) and the Docker image. HTTP is
uvicorn's (httptools parser, uvloop event loop) with the conformance rules and client timeouts of
server_protocol; dispatch, limits and logs are server_app's. Queue, stream and storage triggers are a
background service on the same loop (server_broker). SIGTERM stops the event consumer taking work, stops
accepting, lets requests and batches in flight finish (up to the longest function timeout), then exits 0.
The HTTP contract and runtime.json are in docs/private-runtime.md, the events in docs/events.md.

Unlike the rest of `multicloud.runtime`, these `server*` modules need uvicorn, httptools and uvloop: they
are dependencies of the multicloud package (the local target runs them from the environment multicloud
is installed in) and are installed into the Docker image from host-installed wheels (docs/docker.md);
multicloud.vendor leaves them out of the cloud artifacts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from multicloud.runtime.scheduler import Cron, CronError, Scheduler
from multicloud.runtime.server_config import ConfigError, RuntimeConfig, load_config
from multicloud.runtime.server_log import JsonLog

if TYPE_CHECKING:
    from multicloud.runtime.server_app import RuntimeApp

SWEEP_SECONDS = 0.25
DRAIN_SWEEP_SECONDS = 0.05
EX_CONFIG = 78
EX_RETRY = 1  # could not start for a reason that may pass (the broker is down): a supervisor retries


class StartupError(Exception):
    """The server cannot start: bad config, missing secret, handler that does not import, port taken."""


def import_server_stack() -> None:
    """Import uvicorn and its parser and loop before the service's folders go on sys.path, so a service
    that ships its own (older) uvicorn in its dependencies cannot replace the runtime's."""
    try:
        import httptools  # noqa: F401
        import uvicorn  # noqa: F401

        from multicloud.runtime import server_app, server_protocol  # noqa: F401
    except ImportError as exc:
        raise StartupError(f"the private runtime needs uvicorn and httptools ({exc}); they are dependencies of "
                           "multicloud: reinstall it (pip install multicloud), or for an image, rebuild it") from exc


def prepare(config: RuntimeConfig) -> tuple[dict[str, Callable[..., object]], str | None]:
    """Put the code on sys.path, set env and secrets, import every handler, resolve the auth key."""
    from multicloud.runtime import secrets
    from multicloud.runtime.invoke import HandlerLoadError, load_handler

    for path in reversed(config.paths):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    refs: dict[str, str] = {}
    for fn in config.functions.values():
        os.environ.update(fn.env)
        refs.update(fn.secrets)
    if refs:
        os.environ[secrets.ENV_VAR] = json.dumps(refs, sort_keys=True)
        try:
            secrets.resolve_into_environ()
        except secrets.SecretResolutionError as exc:
            raise StartupError(f"secret {exc.where}: {exc.what} ({exc.fix})") from exc
    key: str | None = None
    if config.auth_key_ref is not None:
        try:
            key = secrets.resolve(config.auth_key_ref)
        except Exception as exc:
            raise StartupError(f"auth key reference {config.auth_key_ref}: cannot be resolved "
                               f"({type(exc).__name__})") from exc
        if not key:
            raise StartupError(f"auth key reference {config.auth_key_ref}: resolves to an empty key")
    if key is None and any(r.auth == "key" for r in config.routes):
        raise StartupError("a route has `auth: key` but runtime.json has no auth.key reference")
    handlers: dict[str, Callable[..., object]] = {}
    for name, fn in config.functions.items():
        try:
            routes = tuple(r.path for r in config.routes if r.function == name)
            if fn.style == "asgi":  # served natively on the server's loop (server_asgi), not through the adapter
                handlers[name] = native_asgi(fn.handler)
            else:
                handlers[name] = load_handler(fn.handler, fn.style, fn.http_payload, routes)
        except HandlerLoadError as exc:
            raise StartupError(f"function {name}: {exc.what} ({exc.fix})") from exc
    for sched in config.schedules:
        if sched.cron is not None:
            try:
                Cron(sched.cron)
            except CronError as exc:
                raise StartupError(str(exc)) from exc
    return handlers, key


def native_asgi(spec: str) -> Callable[..., object]:
    """The ASGI app `spec` names, checked as load_handler checks it, for server_asgi to serve itself."""
    from multicloud.runtime.invoke import _import_target
    from multicloud.runtime.server_asgi import NativeAsgi
    from multicloud.runtime.styles import check_kind

    target = _import_target(spec, "asgi")
    check_kind(target, spec, "asgi")
    return NativeAsgi(target, spec)


def listen_socket(host: str, port: int, reuse_port: bool = False) -> socket.socket:
    """Bind a listener. SO_REUSEPORT only on request: by default a second server on a taken port fails
    loudly instead of silently sharing the traffic."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port and hasattr(socket, "SO_REUSEPORT"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.listen(1024)
    return sock


def build_server(config: RuntimeConfig, handlers: dict[str, Callable[..., object]], key: str | None,
                 log: JsonLog) -> Any:
    """The uvicorn server around the runtime app (see RuntimeServer); `server.app.background.add(...)`
    registers background services before `serve`."""
    import uvicorn

    from multicloud.runtime.server_app import RuntimeApp
    from multicloud.runtime.server_log import LogBridge
    from multicloud.runtime.server_protocol import protocol_class

    class RuntimeServer(uvicorn.Server):
        """uvicorn's Server with the runtime's lifecycle: the sweeper of client timeouts, schedules,
        background services, `--ready-fd`, `--parent-pid`, and a drain that answers /healthz 503 first.

        uvicorn's signal capture re-raises the signal after a graceful stop (the process would die of
        SIGTERM); a supervisor must see exit status 0 instead, so signals only ask for the stop here.
        """

        def __init__(self, app: RuntimeApp) -> None:
            limits = config.limits
            super().__init__(uvicorn.Config(
                app, http=protocol_class(limits, app), loop="auto", lifespan="off", ws="none", interface="asgi3",
                log_config=None, access_log=False, proxy_headers=False, server_header=False,
                timeout_keep_alive=limits.keepalive_timeout,  # type: ignore[arg-type]
                timeout_graceful_shutdown=config.drain_timeout,  # type: ignore[arg-type]
                backlog=1024,
            ))
            self.app = app
            self.scheduler = Scheduler(app.fire_schedule)
            self.ready: Callable[[], None] = lambda: None
            self.parent_pid: int | None = None
            self.outcome = "drained"
            self.exit_code = 0
            self._housekeeping: list[asyncio.Task[None]] = []

        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGTERM, signal.SIGINT)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            self.app.bind(asyncio.get_running_loop())
            try:
                await self.app.start_apps()  # ASGI lifespan startup, on this loop, before listening
            except Exception as exc:  # noqa: BLE001 - a failed startup is a handler that cannot load
                log.event("cannot start", level="ERROR", error=str(exc) or type(exc).__name__)
                self.exit_code = EX_CONFIG
                self.should_exit = True
                return
            try:
                await self.app.background.set_up(self.app)  # e.g. bind the broker's consumers, before serving
            except Exception as exc:  # noqa: BLE001 - any failure refuses the start, with its reason
                log.event("cannot start", level="ERROR", error=str(exc) or type(exc).__name__)
                self.exit_code = EX_RETRY
                self.should_exit = True
                return
            await super().startup(sockets)
            if not self.started:
                return
            indexes: dict[str, int] = {}
            for sched in config.schedules:
                index = indexes.get(sched.function, 0)
                indexes[sched.function] = index + 1
                if sched.rate_seconds is not None:
                    self.scheduler.add_rate(sched.function, index, sched.rate_seconds)
                elif sched.cron is not None:
                    self.scheduler.add_cron(sched.function, index, Cron(sched.cron))
            self.scheduler.start()
            self._housekeeping = [asyncio.ensure_future(self._sweep()), asyncio.ensure_future(self._watch_parent())]
            self.app.background.start(self.app)
            host, port = (sockets or [])[0].getsockname()[:2] if sockets else ("", 0)
            log.event("listening", address=f"{host}:{port}", pid=os.getpid(), functions=sorted(handlers),
                      concurrency=config.limits.concurrency, schedules=len(config.schedules), server="uvicorn")
            self.ready()

        async def _sweep(self) -> None:
            loop = asyncio.get_running_loop()
            while True:
                await asyncio.sleep(DRAIN_SWEEP_SECONDS if self.app.draining else SWEEP_SECONDS)
                now = loop.time()
                for conn in list(self.server_state.connections):
                    check = getattr(conn, "check", None)
                    if check is not None:
                        check(now)

        async def _watch_parent(self) -> None:
            while self.parent_pid is not None:
                await asyncio.sleep(0.5)
                if os.getppid() != self.parent_pid:
                    log.event("parent exited; stopping", parent_pid=self.parent_pid)
                    self.should_exit = True  # an orphan must not keep the supervisor's port
                    return

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            started = time.monotonic()
            deadline = started + config.drain_timeout
            self.app.begin_drain()  # /healthz turns 503, background services stop taking work
            self.scheduler.stop()
            log.event("draining", running=self.app.pool.running, connections=len(self.server_state.connections))
            await super().shutdown(sockets)  # stops accepting; connections finish or close (server_protocol)
            idle = await self.app.pool.wait_idle(deadline)
            await self.app.background.stop(deadline)
            await self.app.stop_apps()  # ASGI lifespan shutdown, once the requests are done
            flush_until = time.monotonic() + 1.0
            while self.server_state.connections and time.monotonic() < flush_until:
                await asyncio.sleep(0.02)  # answers written at the deadline leave before the loop closes
            for task in self._housekeeping:
                task.cancel()
            self.outcome = "drained" if idle and time.monotonic() < deadline else "drain timeout"
            log.event("stopped", outcome=self.outcome, seconds=round(time.monotonic() - started, 3),
                      running=self.app.pool.running)

    LogBridge.install(log)
    server = RuntimeServer(RuntimeApp(config, handlers, key, log))
    if config.broker is not None:
        from multicloud.runtime.server_broker import add_broker

        add_broker(server.app, broker_password(config.broker.password_ref))
        if config.broker.intake is not None:
            from multicloud.runtime.server_broker import add_intake

            add_intake(server.app, broker_password(config.broker.intake.password_ref))
    return server


def broker_password(ref: str) -> str:
    """A broker user's password (the runtime's, the intake's producer), from its secret reference."""
    from multicloud.runtime import secrets

    try:
        return secrets.resolve(ref)  # registered: masked in every log line
    except Exception as exc:
        raise StartupError(f"broker password reference {ref}: cannot be resolved ({type(exc).__name__})") from exc


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m multicloud.runtime.server",
                                     description="multicloud private HTTP runtime")
    parser.add_argument("--config", required=True, help="path of runtime.json")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 in a container)")
    parser.add_argument("--port", type=int, help="port to bind")
    parser.add_argument("--reuse-port", action="store_true", help="set SO_REUSEPORT (several servers, one port)")
    parser.add_argument("--fd", type=int, help="an inherited, listening socket to serve instead of binding")
    parser.add_argument("--ready-fd", type=int, help="write 'ready' to this fd once serving, then close it")
    parser.add_argument("--parent-pid", type=int, help="drain and exit when this parent process is gone")
    args = parser.parse_args(argv)
    if (args.port is None) == (args.fd is None):
        parser.error("give exactly one of --port or --fd")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    log = JsonLog(sys.stdout)
    try:
        config = load_config(Path(args.config))
        import_server_stack()
        handlers, key = prepare(config)
        if args.fd is not None:
            sock = socket.socket(fileno=args.fd)
        else:
            sock = listen_socket(args.host, args.port, args.reuse_port)
    except (ConfigError, StartupError) as exc:
        log.event("cannot start", level="ERROR", error=str(exc))
        return EX_CONFIG  # a supervisor should not restart-loop on this

    def ready() -> None:
        if args.ready_fd is not None:
            try:
                os.write(args.ready_fd, b"ready\n")
                os.close(args.ready_fd)
            except OSError:
                pass

    try:
        server = build_server(config, handlers, key, log)
    except StartupError as exc:
        log.event("cannot start", level="ERROR", error=str(exc))
        return EX_CONFIG
    server.ready = ready
    server.parent_pid = args.parent_pid
    log.start()
    try:
        server.run(sockets=[sock])
    finally:
        log.close()  # the access lines still queued (at most FLUSH_DELAY old) are written, whatever ended serving
    return int(server.exit_code)


if __name__ == "__main__":
    sys.exit(main())
