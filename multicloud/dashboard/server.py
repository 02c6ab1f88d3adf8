"""Serve the dashboard with uvicorn on a socket bound here, so the URL printed names the real port (also
when `--port 0` lets the kernel choose) and a port in use is a clear error, not a traceback."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

from multicloud.dashboard.app import Dashboard, Settings
from multicloud.dashboard.board import load_services
from multicloud.dashboard.security import is_loopback, new_secret
from multicloud.errors import OperationError, UsageError

Announce = Callable[[str, str | None], None]  # (url, token or None): the CLI prints them, once


def bind(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise UsageError(f"--host {host!r} does not resolve: {exc.strerror}", fix="give an address or a name "
                         "of this machine, e.g. 127.0.0.1") from exc
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise OperationError(f"cannot listen on {host}:{port}: {exc.strerror}",
                             fix="choose another --port (0: any free port)") from exc
    sock.set_inheritable(True)
    return sock


def url_of(host: str, port: int, tls: bool) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{shown}:{port}/"


def serve(paths: list[Path], host: str, port: int, settings: Settings, announce: Announce, *,
          targets: list[str] | None = None, tls_cert: Path | None = None, tls_key: Path | None = None) -> int:
    import uvicorn

    if (tls_cert is None) != (tls_key is None):
        raise UsageError("--tls-cert and --tls-key go together")
    services = load_services(paths, targets)
    token = None if is_loopback(host) else new_secret()
    dashboard = Dashboard(services, settings, token=token, csrf=new_secret())
    sock = bind(host, port)
    actual = sock.getsockname()[1]
    config = uvicorn.Config(dashboard.asgi(), log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=2, server_header=False,
                            ssl_certfile=str(tls_cert) if tls_cert else None,
                            ssl_keyfile=str(tls_key) if tls_key else None)
    announce(url_of(host, actual, tls_cert is not None), token)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn shut down cleanly on Ctrl-C, then re-raised the signal: done
        pass
    return 0


class Background:
    """The dashboard served by uvicorn on a thread of this process (tests, benches, embedding): `url`,
    then `stop()`. The caches start and stop with it (uvicorn runs the app's lifespan)."""

    def __init__(self, dashboard: Dashboard, host: str = "127.0.0.1", port: int = 0) -> None:
        import threading

        import uvicorn

        self.dashboard = dashboard
        self._sock = bind(host, port)
        self.url = url_of(host, self._sock.getsockname()[1], False)
        config = uvicorn.Config(dashboard.asgi(), log_level="warning", access_log=False, lifespan="on",
                                timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]},
                                        name="dashboard", daemon=True)

    def start(self, timeout: float = 10.0) -> Background:
        import time

        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise OperationError("the dashboard did not start", where=self.url)
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()
