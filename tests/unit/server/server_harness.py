"""Helpers: start the real private runtime (`python -m multicloud.runtime.server`) on 127.0.0.1 and talk raw HTTP.

Every test here goes through real sockets to a real server process; nothing is mocked.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
APP = HERE / "app"
REPO = HERE.parents[2]


class Runtime:
    def __init__(self, proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.proc = proc
        self.port = port
        self.log = log

    def connect(self, timeout: float = 10) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def records(self) -> list[dict[str, Any]]:
        time.sleep(0.15)  # access lines are flushed every 50 ms
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.startswith("{")]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)


def start_runtime(tmp: Path, functions: dict[str, Any], *, limits: dict[str, Any] | None = None,
                  auth: dict[str, Any] | None = None, env: dict[str, str] | None = None,
                  extra_args: list[str] | None = None, pass_fds: tuple[int, ...] = ()) -> Runtime:
    config = {"format": 1, "service": "svc", "target": "local", "paths": [str(APP)], "functions": functions,
              "auth": auth or {}, "limits": limits or {}}
    cfg = tmp / "runtime.json"
    cfg.write_text(json.dumps(config))
    log = tmp / "server.log"
    args = extra_args or ["--port", "0"]
    environ = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "multicloud.runtime.server", "--config", str(cfg), *args],
                                stdout=out, stderr=subprocess.STDOUT, env=environ, pass_fds=pass_fds)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if '"listening"' in line:
                port = int(json.loads(line)["address"].rsplit(":", 1)[1])
                return Runtime(proc, port, log)
        if proc.poll() is not None:
            raise AssertionError(f"server exited {proc.returncode}: {log.read_text()}")
        time.sleep(0.02)
    proc.kill()
    raise AssertionError(f"server did not start: {log.read_text()}")


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read exactly one HTTP/1.1 response (Content-Length framed) from a socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a full head: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed mid-body")
        rest += chunk
    if len(rest) > length:
        sock_buffer[sock] = rest[length:]
    return status, headers, rest[:length]


sock_buffer: dict[socket.socket, bytes] = {}


def request(rt: Runtime, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
            sock: socket.socket | None = None) -> tuple[int, dict[str, str], bytes]:
    own = sock is None
    s = sock or rt.connect()
    try:
        hdrs = {"Host": "test", "Content-Length": str(len(body)), **(headers or {})}
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
        s.sendall(head.encode() + body)
        return read_response(s)
    finally:
        if own:
            s.close()


def fill_slot_and_queue(rt: Runtime, path: str) -> Callable[[], list[int]]:
    """Two calls of `path` on a server with `concurrency: 1, max_queue: 1`: the first takes the slot, the
    second waits in the queue (started 0.15 s apart). Returns `join`: waits for both, gives their statuses."""
    out: list[int] = []
    threads = [threading.Thread(target=lambda: out.append(request(rt, "GET", path)[0])) for _ in range(2)]
    for t in threads:
        t.start()
        time.sleep(0.15)

    def join() -> list[int]:
        for t in threads:
            t.join(10)
        return out

    return join


def closed_by_peer(sock: socket.socket, timeout: float = 5) -> bool:
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


BASIC_FUNCTIONS: dict[str, Any] = {
    "hello": {"handler": "svc.hello", "timeout": 5,
              "http": [{"path": "/hello/{name}", "methods": ["GET"]}, {"path": "/", "methods": ["GET", "POST"]}]},
    "echo": {"handler": "svc.echo", "timeout": 5, "http": [{"path": "/echo", "methods": ["POST", "PUT"]}]},
    "slow": {"handler": "svc.slow", "timeout": 1, "http": [{"path": "/slow", "methods": ["GET"]}]},
    "private": {"handler": "svc.secret", "timeout": 5, "env": {"GREETING": "hi"},
                "secrets": {"API_TOKEN": "env:TEST_API_TOKEN"},
                "http": [{"path": "/private", "methods": ["GET"], "auth": "key"}]},
    "boom": {"handler": "svc.boom", "timeout": 5, "http": [{"path": "/boom", "methods": ["GET"]}]},
    "events": {"handler": "svc.on_event", "timeout": 5},
    "framing": {"handler": "svc.framing", "timeout": 5, "http": [{"path": "/framing", "methods": ["GET"]}]},
}
KEY = "k3y-" + "x" * 28
