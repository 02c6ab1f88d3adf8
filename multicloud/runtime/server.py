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
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from multicloud.runtime.scheduler import Cron, CronError, Scheduler
from multicloud.runtime.server_config import ConfigError, RuntimeConfig, load_config
from multicloud.runtime.server_conn import Connection, ConnectionSet
from multicloud.runtime.server_http import HttpError, error_response
from multicloud.runtime.server_log import JsonLog

TYPE_CHECKING = False
if TYPE_CHECKING:
    from multicloud.runtime.server_broker import BrokerThread

SWEEP_SECONDS = 0.5
ACCEPT_POLL = 0.25


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
            routes = tuple(r.path for r in config.routes if r.function == name)
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


class Server:
    """Accepts connections (a thread each), runs the scheduler, drains on SIGTERM."""

    def __init__(self, config: RuntimeConfig, handlers: dict[str, Callable[..., object]], key: str | None,
                 sock: socket.socket, log: JsonLog) -> None:
        from multicloud.runtime.server_app import RuntimeApp

        self.config = config
        self.sock = sock
        self.log = log
        self.app = RuntimeApp(config, handlers, key, log)
        limits = config.limits
        self.connections = ConnectionSet(limits.keepalive_timeout, limits.max_connections, limits.header_timeout)
        self.stop = threading.Event()
        self.scheduler = Scheduler(self.app.fire_schedule)
        self.broker: BrokerThread | None = None

    def start_events(self, timeout: float = 30.0) -> None:
        """Queue, stream and storage triggers: connect to the broker and bind every consumer before the
        server reports ready, so a version that cannot consume never replaces one that can."""
        if self.config.broker is None:
            return
        from multicloud.runtime import secrets
        from multicloud.runtime.consumer import StartError
        from multicloud.runtime.server_broker import BrokerThread

        try:
            password = secrets.resolve(self.config.broker.password_ref)
        except Exception as exc:
            raise StartupError(f"broker password reference {self.config.broker.password_ref}: cannot be resolved "
                               f"({type(exc).__name__})") from exc
        broker = BrokerThread(self.app, password, self.log)
        try:
            broker.start(timeout)
        except StartError as exc:
            raise StartupError(f"event triggers: {exc}") from exc
        self.broker = broker

    def _accept_loop(self) -> None:
        limits = self.config.limits
        self.sock.settimeout(ACCEPT_POLL)
        while not self.stop.is_set():
            try:
                client, addr = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                if self.stop.is_set():
                    return
                time.sleep(0.05)  # EMFILE and friends: back off, keep serving the connections we have
                continue
            client.settimeout(None)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            ip = addr[0] if isinstance(addr, tuple) else ""
            conn = Connection(client, ip, self.app, limits.max_body_bytes, limits.max_header_bytes, self.connections)
            if not self.connections.add(conn):
                try:
                    client.sendall(error_response(HttpError(503, "too many connections")))
                finally:
                    client.close()
                continue
            try:
                threading.Thread(target=conn.run, name="conn", daemon=True).start()
            except RuntimeError:  # out of threads (a container's pids limit): refuse this one, keep serving
                self.connections.discard(conn)
                try:
                    client.sendall(error_response(HttpError(503, "server busy")))
                except OSError:
                    pass
                client.close()

    def _sweep_loop(self) -> None:
        while True:
            time.sleep(SWEEP_SECONDS if not self.connections.draining else 0.05)
            self.connections.sweep()

    def serve(self, ready: Callable[[], None] | None = None, parent_pid: int | None = None) -> str:
        """Serve until SIGTERM/SIGINT (or `stop` is set), then drain. Returns how the drain ended."""
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self.stop.set())
        self.log.start()
        indexes: dict[str, int] = {}
        for sched in self.config.schedules:
            index = indexes.get(sched.function, 0)
            indexes[sched.function] = index + 1
            if sched.rate_seconds is not None:
                self.scheduler.add_rate(sched.function, index, sched.rate_seconds)
            elif sched.cron is not None:
                self.scheduler.add_cron(sched.function, index, Cron(sched.cron))
        self.scheduler.start()
        acceptor = threading.Thread(target=self._accept_loop, name="acceptor", daemon=True)
        acceptor.start()
        threading.Thread(target=self._sweep_loop, name="sweeper", daemon=True).start()
        host, port = self.sock.getsockname()[:2]
        self.log.event("listening", address=f"{host}:{port}", pid=os.getpid(), functions=sorted(self.app.handlers),
                       concurrency=self.config.limits.concurrency, schedules=len(self.config.schedules))
        if ready is not None:
            ready()
        while not self.stop.wait(0.5):
            if parent_pid is not None and os.getppid() != parent_pid:
                self.log.event("parent exited; stopping", parent_pid=parent_pid)
                break  # an orphan must not keep the supervisor's port after the supervisor is gone
        return self.drain(acceptor)

    def drain(self, acceptor: threading.Thread) -> str:
        started = time.monotonic()
        self.app.draining = True
        self.connections.start_drain()
        self.scheduler.stop()
        if self.broker is not None:
            self.broker.drain(self.config.drain_timeout)
        acceptor.join(ACCEPT_POLL * 4)  # stops calling accept(): queued connections stay for a successor
        self.sock.close()
        self.log.event("draining", running=self.app.slots.running, connections=len(self.connections))
        deadline = started + self.config.drain_timeout
        while len(self.connections) and time.monotonic() < deadline:
            time.sleep(0.02)
        idle = self.app.slots.wait_idle(deadline)
        outcome = "drained" if idle and not len(self.connections) else "drain timeout"
        self.connections.close_all()
        self.log.event("stopped", outcome=outcome, seconds=round(time.monotonic() - started, 3),
                       running=self.app.slots.running)
        self.log.close()
        return outcome


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
        handlers, key = prepare(config)
        if args.fd is not None:
            sock = socket.socket(fileno=args.fd)
        else:
            sock = listen_socket(args.host, args.port, args.reuse_port)
    except (ConfigError, StartupError) as exc:
        log.event("cannot start", level="ERROR", error=str(exc))
        return 78  # EX_CONFIG: a supervisor should not restart-loop on this

    def ready() -> None:
        if args.ready_fd is not None:
            try:
                os.write(args.ready_fd, b"ready\n")
                os.close(args.ready_fd)
            except OSError:
                pass

    server = Server(config, handlers, key, sock, log)
    try:
        server.start_events()
    except StartupError as exc:
        log.event("cannot start", level="ERROR", error=str(exc))
        return 1  # not EX_CONFIG: a broker that is down now may answer on the next restart
    server.serve(ready, args.parent_pid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
