"""HTTP/1.1 wire format for the private runtime: an incremental request parser and single-write responses.

No I/O here: `RequestParser.next()` takes what is buffered and returns one complete request, `None` (need
more bytes) or raises `HttpError` (400/413/431/501; the caller answers and closes the connection).
`serialize` builds a whole response as one bytes object, so it leaves in one `send` (with TCP_NODELAY
nothing waits on Nagle/delayed ACK, the classic 40 ms stall of servers that write headers and body apart).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus

TOKEN_RE = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
REQUEST_LINE_RE = re.compile(rb"^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) HTTP/(1\.[01])$")
MAX_CHUNK_LINE = 4096
REASONS = {s.value: s.phrase for s in HTTPStatus}
FRAMING = frozenset(("content-length", "connection", "transfer-encoding", "date", "server", "keep-alive"))


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
    started: float  # perf_counter when the request was complete

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


_date_cache: list[object] = [0, b""]


def http_date() -> bytes:
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[1] = formatdate(now, usegmt=True).encode()
        _date_cache[0] = now
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
    """The whole response. Framing headers are the server's; CR/LF in a handler's header is dropped."""
    parts = [b"HTTP/1.1 %d %s\r\n" % (status, REASONS.get(status, "Unknown").encode())]
    has_type = False
    for name, value in headers:
        lname = name.lower()
        if lname in FRAMING:
            continue
        if lname == "content-type":
            has_type = True
        if "\r" in name or "\n" in name or "\r" in value or "\n" in value:
            continue  # never let a handler split the response
        parts.append(f"{name}: {value}\r\n".encode("latin-1", "replace"))
    no_body = status in (204, 304) or status < 200
    if body and not has_type and not no_body:
        parts.append(b"Content-Type: application/octet-stream\r\n")
    if not no_body:
        parts.append(b"Content-Length: %d\r\n" % len(body))
    parts.append(b"Date: " + http_date() + b"\r\n")
    parts.append(b"Connection: keep-alive\r\n\r\n" if keep_alive else b"Connection: close\r\n\r\n")
    if body and not head and not no_body:
        parts.append(body)
    return b"".join(parts)


def error_response(err: HttpError) -> bytes:
    body = (err.message + "\n").encode()
    return serialize(err.status, [("Content-Type", "text/plain; charset=utf-8")], body, keep_alive=False)


class RequestParser:
    """Incremental parser over one connection's buffer. `wants_continue` asks for `100 Continue`."""

    def __init__(self, max_body: int, max_header: int, client_ip: str = "") -> None:
        self.max_body = max_body
        self.max_header = max_header
        self.client_ip = client_ip
        self.buf = bytearray()
        self.wants_continue = False
        self._continued = False

    def feed(self, data: bytes) -> None:
        self.buf += data

    def next(self) -> RawRequest | None:
        buf = self.buf
        while buf.startswith(b"\r\n"):  # stray CRLF between requests is allowed (RFC 9112 2.2)
            del buf[:2]
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > self.max_header:
                raise HttpError(431, "request header fields too large")
            return None
        if end > self.max_header:
            raise HttpError(431, "request header fields too large")
        lines = bytes(buf[:end]).split(b"\r\n")
        m = REQUEST_LINE_RE.match(lines[0])
        if m is None:
            raise HttpError(400, "malformed request line")
        method = m.group(1).decode()
        target = m.group(2).decode("latin-1")
        version = m.group(3).decode()
        headers: list[tuple[str, str]] = []
        length_values: list[str] = []
        chunked = False
        conn_tokens = ""
        expect = False
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep or not TOKEN_RE.match(name):
                raise HttpError(400, "malformed header line")
            key = name.decode("latin-1").lower()
            text = value.strip(b" \t").decode("latin-1")
            headers.append((key, text))
            if key == "content-length":
                length_values.append(text)
            elif key == "transfer-encoding":
                if text.lower() != "chunked":
                    raise HttpError(501, f"transfer-encoding {text!r} is not supported")
                if chunked:
                    raise HttpError(400, "repeated transfer-encoding")
                chunked = True
            elif key == "connection":
                conn_tokens += "," + text.lower()
            elif key == "expect" and text.lower() == "100-continue":
                expect = True
        if not target.startswith("/"):
            if target == "*" and method == "OPTIONS":
                target = "/"
            elif target.startswith(("http://", "https://")):  # absolute-form: keep the path only
                rest = target.split("://", 1)[1]
                target = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
            else:
                raise HttpError(400, "request target must be a path")
        if chunked and length_values:
            raise HttpError(400, "both content-length and transfer-encoding")
        if len(set(length_values)) > 1 or (length_values and not length_values[0].isdigit()):
            raise HttpError(400, "invalid content-length")
        body_start = end + 4
        if chunked:
            decoded = self._dechunk(body_start)
            if decoded is None:
                self._continue(expect)
                return None
            body, consumed = decoded
        else:
            length = int(length_values[0]) if length_values else 0
            if length > self.max_body:
                raise HttpError(413, f"request body over the {self.max_body} byte limit")
            if len(buf) - body_start < length:
                self._continue(expect)
                return None
            body = bytes(buf[body_start:body_start + length])
            consumed = body_start + length
        del buf[:consumed]
        self.wants_continue = False
        self._continued = False
        keep_alive = "close" not in conn_tokens if version == "1.1" else "keep-alive" in conn_tokens
        path, _, query = target.partition("?")
        return RawRequest(method, target, path, query, version, headers, body, keep_alive, self.client_ip,
                          time.perf_counter())

    def _continue(self, expect: bool) -> None:
        """Ask once per request for `100 Continue`, however slowly the body arrives."""
        if expect and not self._continued:
            self._continued = True
            self.wants_continue = True

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
            if not size_text or not re.fullmatch(rb"[0-9A-Fa-f]{1,16}", size_text):
                raise HttpError(400, "malformed chunk size")
            size = int(size_text, 16)
            if len(out) + size > self.max_body:
                raise HttpError(413, f"request body over the {self.max_body} byte limit")
            pos = eol + 2
            if size == 0:
                while True:  # trailers until an empty line
                    eol = buf.find(b"\r\n", pos)
                    if eol < 0:
                        if len(buf) - pos > self.max_header:
                            raise HttpError(431, "trailers too large")
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
