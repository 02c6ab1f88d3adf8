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
    route: str | None = None  # the matched route's template, logged instead of the path and its values

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


@dataclass
class _Head:
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    chunked: bool
    length: int
    keep_alive: bool
    expect: bool
    body_start: int


class RequestParser:
    """Incremental parser over one connection's buffer. `wants_continue` asks for `100 Continue`.

    Work is linear in the bytes received however they are split: the head is searched from where the
    last search stopped and parsed once, and a chunked body is decoded chunk by chunk as it arrives.
    """

    def __init__(self, max_body: int, max_header: int, client_ip: str = "") -> None:
        self.max_body = max_body
        self.max_header = max_header
        self.client_ip = client_ip
        self.buf = bytearray()
        self.wants_continue = False
        self._head: _Head | None = None
        self._scan_from = 0
        self._chunk_pos = 0
        self._chunk_out = bytearray()
        self._chunks_done = False

    def feed(self, data: bytes) -> None:
        self.buf += data

    def next(self) -> RawRequest | None:
        buf = self.buf
        head = self._head
        if head is None:
            while buf.startswith(b"\r\n"):  # stray CRLF between requests is allowed (RFC 9112 2.2)
                del buf[:2]
            end = buf.find(b"\r\n\r\n", self._scan_from)
            if end < 0:
                if len(buf) > self.max_header:
                    raise HttpError(431, "request header fields too large")
                self._scan_from = max(0, len(buf) - 3)
                return None
            if end > self.max_header:
                raise HttpError(431, "request header fields too large")
            head = self._head = self._parse_head(bytes(buf[:end]), end + 4)
            self._chunk_pos = head.body_start
            self._chunk_out = bytearray()
            self._chunks_done = False
            if head.expect and (head.chunked or head.length > 0) and len(buf) <= head.body_start:
                self.wants_continue = True  # once per request, however slowly the body arrives
        if head.chunked:
            consumed = self._dechunk()
            if consumed is None:
                return None
            body = bytes(self._chunk_out)
        else:
            consumed = head.body_start + head.length
            if len(buf) < consumed:
                return None
            body = bytes(buf[head.body_start:consumed])
        del buf[:consumed]
        self._head = None
        self._scan_from = 0
        self.wants_continue = False
        path, _, query = head.target.partition("?")
        return RawRequest(head.method, head.target, path, query, head.version, head.headers, body, head.keep_alive,
                          self.client_ip, time.perf_counter())

    def _parse_head(self, raw: bytes, body_start: int) -> _Head:
        lines = raw.split(b"\r\n")
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
        length = int(length_values[0]) if length_values else 0
        if length > self.max_body:
            raise HttpError(413, f"request body over the {self.max_body} byte limit")
        keep_alive = "close" not in conn_tokens if version == "1.1" else "keep-alive" in conn_tokens
        return _Head(method, target, version, headers, chunked, length, keep_alive, expect, body_start)

    def _dechunk(self) -> int | None:
        """Decode the chunks that have fully arrived; the end of the body once complete, else None."""
        buf, pos, out = self.buf, self._chunk_pos, self._chunk_out
        while not self._chunks_done:
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
            if size == 0:
                self._chunks_done = True
                self._chunk_pos = pos = eol + 2
                break
            if len(buf) < eol + 2 + size + 2:
                return None
            data_end = eol + 2 + size
            if buf[data_end:data_end + 2] != b"\r\n":
                raise HttpError(400, "malformed chunk")
            out += buf[eol + 2:data_end]
            self._chunk_pos = pos = data_end + 2
        while True:  # trailers until an empty line
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                if len(buf) - pos > self.max_header:
                    raise HttpError(431, "trailers too large")
                return None
            if eol == pos:
                return eol + 2
            pos = eol + 2
