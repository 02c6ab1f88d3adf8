"""The private HTTP runtime: one process serves every function of a service (stdlib only).

    python -m multicloud.runtime.server --config runtime.json --port 8080 [--host 0.0.0.0]
    python -m multicloud.runtime.server --config runtime.json --fd 3 [--ready-fd 4]

It powers the `local` target (behind a supervisor that owns the listening socket and passes it with
`--fd`, so a redeploy swaps processes without dropping a connection) and the Docker image. HTTP routes
come from the spec, CloudEvents arrive at `POST /_events/<function>`, `GET /healthz` answers 200 (503
while draining), schedules fire inside. SIGTERM stops accepting, lets requests in flight finish (up to the
longest function timeout), then exits 0. The HTTP contract and runtime.json are in docs/private-runtime.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from multicloud.runtime.scheduler import Cron, CronError, Scheduler
from multicloud.runtime.server_config import ConfigError, RuntimeConfig, load_config
from multicloud.runtime.server_http import HttpConnection
from multicloud.runtime.server_log import JsonLog

SWEEP_SECONDS = 0.5
DRAIN_IDLE_GRACE = 0.5  # while draining, an idle keep-alive connection gets this long to send one more


class StartupError(Exception):
    """The server cannot start: bad config, missing secret, handler that does not import, port taken."""


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
            handlers[name] = load_handler(fn.handler)
        except HandlerLoadError as exc:
            raise StartupError(f"function {name}: {exc.what} ({exc.fix})") from exc
    for sched in config.schedules:
        if sched.cron is not None:
            try:
                Cron(sched.cron)
            except CronError as exc:
                raise StartupError(str(exc)) from exc
    return handlers, key


def listen_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if hasattr(socket, "SO_REUSEPORT"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.listen(1024)
    return sock


class Server:
    def __init__(self, config: RuntimeConfig, handlers: dict[str, Callable[..., object]], key: str | None,
                 sock: socket.socket, log: JsonLog) -> None:
        self.config = config
        self.handlers = handlers
        self.key = key
        self.sock = sock
        self.log = log
        self.connections: set[HttpConnection] = set()
        self.stop_event: asyncio.Event | None = None

    async def run(self, ready: Callable[[], None] | None = None) -> None:
        from multicloud.runtime.server_app import RuntimeApp

        loop = asyncio.get_running_loop()
        self.log.loop = loop
        self.stop_event = asyncio.Event()
        app = RuntimeApp(self.config, self.handlers, self.key, self.log, loop)
        limits = self.config.limits

        def factory() -> HttpConnection:
            conn = HttpConnection(app, max_body=limits.max_body_bytes, max_header=limits.max_header_bytes,
                                  on_close=self.connections.discard)
            self.connections.add(conn)
            if app.draining:
                conn.drain = True
            return conn

        server = await loop.create_server(factory, sock=self.sock, backlog=1024)
        scheduler = Scheduler(loop, app.fire_schedule)
        indexes: dict[str, int] = {}
        for sched in self.config.schedules:
            index = indexes.get(sched.function, 0)
            indexes[sched.function] = index + 1
            if sched.rate_seconds is not None:
                scheduler.add_rate(sched.function, index, sched.rate_seconds)
            elif sched.cron is not None:
                scheduler.add_cron(sched.function, index, Cron(sched.cron))
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop_event.set)
        sockname = self.sock.getsockname()
        self.log.event("listening", address=f"{sockname[0]}:{sockname[1]}", pid=os.getpid(),
                       functions=sorted(self.handlers), concurrency=limits.concurrency,
                       schedules=len(self.config.schedules))
        if ready is not None:
            ready()
        sweeper = loop.create_task(self._sweep(app))
        await self.stop_event.wait()

        # ---- graceful drain ----
        started = time.monotonic()
        app.draining = True
        scheduler.stop()
        server.close()
        for conn in list(self.connections):
            conn.drain = True
        self.log.event("draining", in_flight=app.in_flight, running=app.running,
                       connections=len(self.connections))
        try:
            await asyncio.wait_for(self._drained(app), timeout=self.config.drain_timeout)
            outcome = "drained"
        except asyncio.TimeoutError:
            outcome = "drain timeout"
        sweeper.cancel()
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.close()
        app.executor.shutdown(wait=False, cancel_futures=True)
        self.log.event("stopped", outcome=outcome, seconds=round(time.monotonic() - started, 3),
                       in_flight=app.in_flight, running=app.running)

    async def _drained(self, app: object) -> None:
        from multicloud.runtime.server_app import RuntimeApp

        assert isinstance(app, RuntimeApp)
        while True:
            await app.wait_idle()
            if not self.connections:
                return
            await asyncio.sleep(0.05)

    async def _sweep(self, app: object) -> None:
        keepalive = self.config.limits.keepalive_timeout
        from multicloud.runtime.server_app import RuntimeApp

        assert isinstance(app, RuntimeApp)
        while True:
            await asyncio.sleep(SWEEP_SECONDS if not app.draining else 0.05)
            now = time.monotonic()
            limit = DRAIN_IDLE_GRACE if app.draining else keepalive
            for conn in list(self.connections):
                if conn.idle and now - conn.last_active > limit:
                    conn.close_if_idle()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m multicloud.runtime.server",
                                     description="multicloud private HTTP runtime")
    parser.add_argument("--config", required=True, help="path of runtime.json")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 in a container)")
    parser.add_argument("--port", type=int, help="port to bind (SO_REUSEPORT is set)")
    parser.add_argument("--fd", type=int, help="an inherited, listening socket to serve instead of binding")
    parser.add_argument("--ready-fd", type=int, help="write 'ready' to this fd once serving, then close it")
    args = parser.parse_args(argv)
    if (args.port is None) == (args.fd is None):
        parser.error("give exactly one of --port or --fd")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    log = JsonLog(sys.stdout)
    try:
        config = load_config(Path(args.config))
        handlers, key = prepare(config)
        if args.fd is not None:
            sock = socket.socket(fileno=args.fd)
        else:
            sock = listen_socket(args.host, args.port)
    except (ConfigError, StartupError) as exc:
        log.event("cannot start", level="ERROR", error=str(exc))
        return 78  # EX_CONFIG: a supervisor should not restart-loop on this
    sock.setblocking(False)

    def ready() -> None:
        if args.ready_fd is not None:
            try:
                os.write(args.ready_fd, b"ready\n")
                os.close(args.ready_fd)
            except OSError:
                pass

    asyncio.run(Server(config, handlers, key, sock, log).run(ready))
    log.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
