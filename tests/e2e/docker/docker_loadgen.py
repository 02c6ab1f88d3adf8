"""A bounded HTTP load generator for the reliability tests (stdlib only, loopback targets only).

Each worker thread keeps one HTTP/1.1 keep-alive connection (reopened 10 ms after an error) and records every
request's start time, latency and outcome. Loops are bounded by a request budget *and* a time budget,
and stop by themselves.
"""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class Outcome:
    started: float
    latency: float
    status: int | None
    body: bytes = b""
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 400


@dataclass
class Load:
    url: str
    path: str
    workers: int = 4
    max_requests: int = 50_000
    max_seconds: float = 60.0
    outcomes: list[Outcome] = field(default_factory=list)

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        assert parts.hostname in ("127.0.0.1", "localhost", "::1"), "load tests target loopback only"
        self.host, self.port = parts.hostname, parts.port or 80
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._work, daemon=True) for _ in range(self.workers)]

    def __enter__(self) -> Load:
        self.t0 = time.monotonic()
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)

    def _work(self) -> None:
        conn: http.client.HTTPConnection | None = None
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            with self._lock:
                if len(self.outcomes) >= self.max_requests:
                    return
            if conn is None:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=20)
            started = time.monotonic()
            try:
                conn.request("GET", self.path)
                resp = conn.getresponse()
                body = resp.read()
                out = Outcome(started, time.monotonic() - started, resp.status, body)
                if resp.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as exc:
                out = Outcome(started, time.monotonic() - started, None, error=f"{type(exc).__name__}: {exc}")
                conn.close()
                conn = None
                # a client retrying, not a spin: refused connections come back in microseconds, and a
                # gateway down for a second under a loaded machine used up the whole request budget
                time.sleep(0.01)
            with self._lock:
                self.outcomes.append(out)
        if conn is not None:
            conn.close()

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    def error_window(self) -> float:
        """Seconds from the start of the first failed request to the end of the last one (0: none)."""
        bad = self.failures
        if not bad:
            return 0.0
        return max(o.started + o.latency for o in bad) - min(o.started for o in bad)


def raw_exchange(host: str, port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send raw bytes, return everything the server answers until it closes or goes quiet."""
    import socket

    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
    return b"".join(chunks)
