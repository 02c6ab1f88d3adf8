"""HTTP/1.1 on an asyncio Protocol: parsing, keep-alive, limits, single-write responses.

Speed comes from doing little per request: no coroutine per request, one `transport.write` per response
(asyncio sets TCP_NODELAY on accepted sockets, so nothing waits on Nagle/delayed ACK), a cached Date
header. Requests on one connection are answered in order (pipelined requests wait in the buffer).
Anything malformed gets a 400 and the connection is closed; the server keeps serving everyone else.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from typing import Protocol

TOKEN_RE = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
REQUEST_LINE_RE = re.compile(rb"^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) HTTP/(1\.[01])$")
MAX_CHUNK_LINE = 4096
REASONS = {s.value: s.phrase for s in HTTPStatus}


@dataclass
class RawRequest:
    method: str
    target: str  # raw request target, e.g. /orders/1?x=2
    path: str  # raw (percent-encoded) path
    query_string: str
    version: str
    headers: list[tuple[str, str]]  # names lower-cased, in order, repeats kept
    body: bytes
    keep_alive: bool
    client_ip: str
    started: float  # perf_counter when the head was parsed

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


class App(Protocol):
    def handle(self, conn: HttpConnection, request: RawRequest) -> None: ...
    def access(self, request: RawRequest | None, status: int, size: int, extra: dict[str, object]) -> None: ...


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


_date_cache: list[object] = [0, b""]


def http_date() -> bytes:
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[0] = now
        _date_cache[1] = formatdate(now, usegmt=True).encode()
    value = _date_cache[1]
    assert isinstance(value, bytes)
    return value


def serialize(
    status: int,
    headers: list[tuple[str, str]],
    body: bytes,
    *,
    keep_alive: bool,
    head: bool = False,
) -> bytes:
    lines = [b"HTTP/1.1 %d %s\r\n" % (status, REASONS.get(status, "Unknown").encode())]
    has_type = False
    for name, value in headers:
        lname = name.lower()
        if lname in ("content-length", "connection", "transfer-encoding", "date", "server"):
            continue  # framing headers belong to the server
        if lname == "content-type":
            has_type = True
        if "\r" in name or "\n" in name or "\r" in value or "\n" in value:
            continue  # never let a handler split the response
        lines.append(f"{name}: {value}\r\n".encode("latin-1", "replace"))
    if body and not has_type:
        lines.append(b"Content-Type: application/octet-stream\r\n")
    no_body = status in (204, 304) or 100 <= status < 200
    if not no_body:
        lines.append(b"Content-Length: %d\r\n" % len(body))
    lines.append(b"Date: " + http_date() + b"\r\n")
    lines.append(b"Connection: keep-alive\r\n\r\n" if keep_alive else b"Connection: close\r\n\r\n")
    if body and not head and not no_body:
        lines.append(body)
    return b"".join(lines)


class HttpConnection(asyncio.Protocol):
    """One client connection. The server owns the set of live connections for shutdown and idle sweeps."""

    def __init__(
        self,
        app: App,
        *,
        max_body: int,
        max_header: int,
        on_close: Callable[[HttpConnection], None],
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.max_header = max_header
        self.on_close = on_close
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.busy = False  # a request is being handled; later ones wait in buf
        self.closing = False  # after the current response, close (error or client half-close)
        self.drain = False  # server shutting down: answer what comes, with Connection: close
        self.last_active = time.monotonic()
        self.client_ip = ""
        self.current: RawRequest | None = None
        self.sent_continue = False

    # ---- asyncio.Protocol ---------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.client_ip = peer[0] if isinstance(peer, tuple) else ""

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.on_close(self)

    def data_received(self, data: bytes) -> None:
        self.last_active = time.monotonic()
        self.buf += data
        if not self.busy:
            self._process()
        elif len(self.buf) > self.max_header + self.max_body and self.transport is not None:
            self.transport.pause_reading()  # a client racing ahead of its own responses

    def eof_received(self) -> bool | None:
        # half-close from the client: answer what is in flight, then close
        self.closing = True
        if not self.busy and self.transport is not None:
            self.transport.close()
        return True

    # ---- parsing ------------------------------------------------------------------------------------
    @property
    def idle(self) -> bool:
        return not self.busy

    def _process(self) -> None:
        while not self.busy and self.buf and self.transport is not None and not self.closing:
            try:
                request = self._parse()
            except HttpError as err:
                self._fail(err)
                return
            if request is None:
                return
            self.busy = True
            self.current = request
            self.app.handle(self, request)

    def _fail(self, err: HttpError) -> None:
        body = (err.message + "\n").encode()
        self.buf.clear()
        self.busy = True
        self.closing = True
        self.app.access(None, err.status, len(body), {"error": err.message, "client": self.client_ip})
        if self.transport is not None:
            self.transport.write(serialize(err.status, [("Content-Type", "text/plain")], body, keep_alive=False))
            self.transport.close()

    def _parse(self) -> RawRequest | None:
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > self.max_header:
                raise HttpError(431, "request header fields too large")
            if self.buf.startswith(b"\r\n"):  # tolerate stray CRLF between requests (RFC 9112 2.2)
                del self.buf[:2]
            return None
        if end > self.max_header:
            raise HttpError(431, "request header fields too large")
        head = bytes(self.buf[:end])
        lines = head.split(b"\r\n")
        while lines and lines[0] == b"":
            lines.pop(0)
        if not lines:
            raise HttpError(400, "empty request")
        m = REQUEST_LINE_RE.match(lines[0])
        if m is None:
            raise HttpError(400, "malformed request line")
        method = m.group(1).decode()
        target = m.group(2).decode("latin-1")
        version = m.group(3).decode()
        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep or not TOKEN_RE.match(name):
                raise HttpError(400, "malformed header line")
            headers.append((name.decode("latin-1").lower(), value.strip(b" \t").decode("latin-1")))
        if not target.startswith("/"):
            if target == "*" and method == "OPTIONS":
                target = "/"
            elif target.startswith(("http://", "https://")):  # absolute-form: keep the path only
                rest = target.split("://", 1)[1]
                target = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
            else:
                raise HttpError(400, "request target must be a path")
        lengths = [v for k, v in headers if k == "content-length"]
        chunked = False
        for k, v in headers:
            if k == "transfer-encoding":
                if v.lower() != "chunked" or chunked:
                    raise HttpError(501 if v.lower() != "chunked" else 400, f"transfer-encoding {v!r} not supported")
                chunked = True
        if chunked and lengths:
            raise HttpError(400, "both content-length and transfer-encoding")
        if len(set(lengths)) > 1 or (lengths and not lengths[0].isdigit()):
            raise HttpError(400, "invalid content-length")
        body_start = end + 4
        if chunked:
            decoded = self._dechunk(body_start)
            if decoded is None:
                self._maybe_continue(headers)
                return None
            body, consumed = decoded
        else:
            length = int(lengths[0]) if lengths else 0
            if length > self.max_body:
                raise HttpError(413, f"request body over the {self.max_body} byte limit")
            if len(self.buf) - body_start < length:
                self._maybe_continue(headers)
                return None
            body = bytes(self.buf[body_start:body_start + length])
            consumed = body_start + length
        del self.buf[:consumed]
        self.sent_continue = False
        conn = ",".join(v for k, v in headers if k == "connection").lower()
        keep_alive = "close" not in conn if version == "1.1" else "keep-alive" in conn
        path, _, query = target.partition("?")
        return RawRequest(method, target, path, query, version, headers, body, keep_alive, self.client_ip,
                          time.perf_counter())

    def _maybe_continue(self, headers: list[tuple[str, str]]) -> None:
        if self.transport is None or self.sent_continue:
            return
        if any(k == "expect" and v.lower() == "100-continue" for k, v in headers):
            self.sent_continue = True  # once per request, however slowly the body arrives
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _dechunk(self, pos: int) -> tuple[bytes, int] | None:
        """Decode a chunked body starting at buf[pos]: (body, bytes consumed) or None if incomplete."""
        out = bytearray()
        buf = self.buf
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                if len(buf) - pos > MAX_CHUNK_LINE:
                    raise HttpError(400, "chunk size line too long")
                return None
            size_text = bytes(buf[pos:eol]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise HttpError(400, "malformed chunk size") from None
            if size < 0:
                raise HttpError(400, "malformed chunk size")
            if len(out) + size > self.max_body:
                raise HttpError(413, f"request body over the {self.max_body} byte limit")
            pos = eol + 2
            if size == 0:
                # trailers until an empty line
                while True:
                    eol = buf.find(b"\r\n", pos)
                    if eol < 0:
                        return None
                    if eol == pos:
                        return bytes(out), eol + 2
                    pos = eol + 2
            if len(buf) < pos + size + 2:
                return None
            out += buf[pos:pos + size]
            if buf[pos + size:pos + size + 2] != b"\r\n":
                raise HttpError(400, "malformed chunk")
            pos += size + 2

    # ---- responding ---------------------------------------------------------------------------------
    def respond(
        self,
        request: RawRequest,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
        extra: dict[str, object] | None = None,
    ) -> None:
        """Send the one response to `request` (event-loop thread only), then go on with the next one."""
        if self.current is not request:
            return  # already answered (e.g. a 504 was sent and the handler finished later)
        self.current = None
        keep_alive = request.keep_alive and not self.closing and not self.drain
        if self.transport is not None:
            self.transport.write(serialize(status, headers, body, keep_alive=keep_alive, head=request.method == "HEAD"))
        self.app.access(request, status, len(body), extra or {})
        self.last_active = time.monotonic()
        self.busy = False
        if self.transport is None:
            return
        if not keep_alive:
            self.transport.close()
            return
        if self.transport.is_reading() is False:
            self.transport.resume_reading()
        if self.buf:
            self._process()

    def close_if_idle(self) -> bool:
        if not self.busy and self.transport is not None:
            self.transport.close()
            return True
        return False
