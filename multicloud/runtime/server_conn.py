"""One thread per client connection: read, parse, dispatch, answer, keep alive.

A thread per connection does a request with no hand-off between threads (the handler runs right in the
connection's thread), which under the GIL is three times cheaper than an event loop passing every call to
a worker pool and back. The answer leaves in one `sendall` under a per-connection lock, because the
timeout watchdog may answer 504 from its own thread while a handler overruns. The sweeper closes idle
keep-alive connections (and, while draining, gives them a short grace to send one last request).
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Protocol

from multicloud.runtime.server_http import HttpError, RawRequest, RequestParser, error_response, serialize

RECV_SIZE = 65536
CLOSE_SEND_TIMEOUT = 5.0


class Dispatcher(Protocol):
    def handle(self, conn: Connection, request: RawRequest) -> bool: ...
    def access(self, request: RawRequest | None, status: int, size: int, extra: dict[str, object]) -> None: ...


class Connection:
    def __init__(self, sock: socket.socket, client_ip: str, app: Dispatcher, max_body: int, max_header: int,
                 registry: ConnectionSet) -> None:
        self.sock = sock
        self.client_ip = client_ip
        self.app = app
        self.parser = RequestParser(max_body, max_header, client_ip)
        self.registry = registry
        self.send_lock = threading.Lock()
        self.answered = True  # for the request in progress
        self.state = "idle"  # idle | reading | busy
        self.last_active = time.monotonic()
        self.request_started = self.last_active
        self.drain = False

    def run(self) -> None:
        try:
            self._serve()
        except OSError:
            pass  # reset by the peer, or shut down by the sweeper
        finally:
            try:
                self.sock.close()
            except OSError:
                pass
            self.registry.discard(self)

    def _serve(self) -> None:
        parser, sock = self.parser, self.sock
        while True:
            try:
                request = parser.next()
            except HttpError as err:
                self.app.access(None, err.status, 0, {"error": err.message, "client_ip": self.client_ip})
                with self.send_lock:
                    sock.sendall(error_response(err))
                return
            if request is None:
                if parser.wants_continue:
                    parser.wants_continue = False
                    sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                self.state = "reading" if parser.buf else "idle"
                data = sock.recv(RECV_SIZE)
                if not data:
                    return
                self.last_active = time.monotonic()
                if not parser.buf:
                    self.request_started = self.last_active  # first bytes of a new request
                parser.feed(data)
                continue
            self.state = "busy"
            self.answered = False
            if not self.app.handle(self, request):
                return
            self.last_active = time.monotonic()

    def answer(self, request: RawRequest, status: int, headers: list[tuple[str, str]], body: bytes,
               extra: dict[str, object], *, close: bool = False) -> bool:
        """Send the one answer to the request in progress. False: it was already answered (by the
        watchdog) or the connection must close now."""
        with self.send_lock:
            if self.answered:
                return False
            self.answered = True
            keep_alive = request.keep_alive and not self.drain and not close
            data = serialize(status, headers, body, keep_alive=keep_alive, head=request.method == "HEAD")
            try:
                if close:
                    # the watchdog answers from its own thread: a client that does not read must not stall it
                    self.sock.settimeout(CLOSE_SEND_TIMEOUT)
                self.sock.sendall(data)
            except OSError:
                keep_alive = False
            if close:
                self._shutdown_write()
        self.app.access(request, status, len(body), extra)
        return keep_alive

    def _shutdown_write(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_WR)  # the client sees the end now, even if a handler still runs
        except OSError:
            pass

    def kick(self) -> None:
        """Wake the thread blocked in recv so it ends (idle timeout, drain)."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class ConnectionSet:
    def __init__(self, keepalive_timeout: float, max_connections: int, header_timeout: float = 30.0) -> None:
        self.keepalive_timeout = keepalive_timeout
        self.header_timeout = header_timeout
        self.max_connections = max_connections
        self.lock = threading.Lock()
        self.live: set[Connection] = set()
        self.draining = False
        self.drain_grace = 0.5

    def add(self, conn: Connection) -> bool:
        with self.lock:
            if len(self.live) >= self.max_connections:
                return False
            conn.drain = self.draining
            self.live.add(conn)
            return True

    def discard(self, conn: Connection) -> None:
        with self.lock:
            self.live.discard(conn)

    def __len__(self) -> int:
        return len(self.live)

    def start_drain(self) -> None:
        with self.lock:
            self.draining = True
            for conn in self.live:
                conn.drain = True

    def sweep(self) -> None:
        now = time.monotonic()
        idle_limit = self.drain_grace if self.draining else self.keepalive_timeout
        with self.lock:
            conns = list(self.live)
        for conn in conns:
            if conn.state == "idle" and now - conn.last_active > idle_limit:
                conn.kick()
            elif conn.state == "reading" and now - conn.request_started > self.header_timeout:
                conn.kick()  # a request trickled in too slowly (slowloris): its thread is freed

    def close_all(self) -> None:
        with self.lock:
            conns = list(self.live)
        for conn in conns:
            conn.kick()
