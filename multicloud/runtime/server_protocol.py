"""uvicorn's httptools protocol plus the HTTP/1.1 rules and client timeouts the private runtime promises.

uvicorn parses with httptools (llhttp in strict mode), which already refuses NUL, bare CR or LF and other
control characters in header values, obs-fold, a space before the colon, malformed or repeated
`Content-Length`, `Transfer-Encoding` together with `Content-Length`, and bad chunk framing. What neither
does, this subclass adds, measured against raw sockets in tests/unit/server/test_server_conformance.py:

* RFC 9112 3.2: exactly one valid `Host` in HTTP/1.1 (at most one in 1.0), else 400.
* RFC 9112 6.1: `Transfer-Encoding` in an HTTP/1.0 request, or with chunked not last, is 400; a coding other
  than chunked is 501. RFC 9110 15.6.6: versions other than 1.x are 505 (1.0 and 1.1 are served).
* A head over `max_header_bytes` is 431; beyond `max_connections` open connections a new one gets 503.
* Timeouts, so that no client holds a connection forever: a request head must be complete within
  `header_timeout` of its first byte (or of the connection opening), its body within `body_timeout` of the
  head, else 408 and close; a kept-alive connection idle for `keepalive_timeout` is closed; a response the
  client stops reading (its send buffer not shrinking) is cut after `write_timeout`, as is a closing
  connection whose last bytes are not taken. A sweeper (`RuntimeServer`) calls `check` on every connection
  a few times a second, so the per-request path only sets two attributes per phase.
* Draining (SIGTERM): a request already arriving is served with `Connection: close`; an idle kept-alive
  connection gets `drain_grace` to send one more request (uvicorn closes it at once, which races a client
  that is sending on it; the `local` target's zero-drop redeploys rely on the grace).

Everything else (keep-alive, pipelining, 100-continue, flow control, response framing) is uvicorn's. The
answers given here never reach the application; they are logged through `ConnectionLog` (the app's JSON
access log) with the reason.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Protocol

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle

from multicloud.runtime.server_config import Limits

IDLE, HEAD, BODY, APP = 0, 1, 2, 3  # what the connection waits for: a request, its head, its body, the answer
HOST_RE = re.compile(rb"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(:[0-9]*)?")
_hosts_ok: set[bytes] = set()  # Host values that passed HOST_RE
VERSION_RE = re.compile(rb"HTTP/(\d+)\.\d+\r?$", re.M)
TCHAR = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]"  # RFC 9110 5.6.2: what a token (a method, a field name) is made of
REQUEST_LINE_RE = re.compile((TCHAR + r"+ [^ \r\n]+ HTTP/[0-9]\.[0-9]\r?\n").encode())  # well-formed, any method


class CoalescingTransport:
    """The connection's transport, with the writes of one event-loop step sent as one.

    uvicorn writes a response's head and its body with two `transport.write` calls, so two system calls,
    and measured here they were the largest single cost per request (bench/http_runtime.py). Writes made
    in the same loop step are joined and sent once, at the end of the step (`call_soon`); `close` sends
    what is pending first, `abort` drops it. Everything else is the real transport's. The runtime's own
    answers (portable handlers, errors) come whole (`write_response`), what goes through uvicorn's `send`
    (a `style: asgi` app, uvicorn's own 500) in two pieces; both leave at the end of the step. Measured
    (docs/private-runtime.md): a whole response written at once instead of at the end of the step cost
    about a fifth more CPU per request under wrk, and the joining saves a few us per request for ASGI apps.
    """

    __slots__ = ("_transport", "_loop", "_pending")

    def __init__(self, transport: Any, loop: Any) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        pending = self._pending
        if pending:
            self._pending = []
            if not self._transport.is_closing():
                self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def is_closing(self) -> bool:
        return bool(self._transport.is_closing())  # asked several times per request: not through __getattr__

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending = []
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return int(self._transport.get_write_buffer_size()) + sum(map(len, self._pending))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


_defaults: tuple[object, bytes] = (None, b"")  # uvicorn's default headers (Date) -> their wire form


def write_response(send: object, status: int, head: bytes, body: bytes, close: bool) -> bool:
    """Send a whole response on the connection `send` belongs to, as one piece: what uvicorn's `send` does
    for a `http.response.start` and a final `http.response.body`, without the two messages, the awaits
    and the re-checks of headers (`head` is the header block, `name: value\r\n` lines, names and values
    checked by the caller, Content-Length included). The piece leaves at the end of the loop step with the
    step's other writes (CoalescingTransport). False when this cannot be done here (not uvicorn's
    connection, a response already started, writes paused for a slow reader): then send the messages
    through `send`, which handles those cases.
    """
    cycle = getattr(send, "__self__", None)
    if type(cycle) is not RequestResponseCycle or cycle.response_started or cycle.flow.write_paused:
        return False
    if cycle.disconnected:
        return True  # uvicorn's send drops it too
    cycle.response_started = True
    cycle.waiting_for_100_continue = False
    global _defaults
    defaults = _defaults
    if defaults[0] is not cycle.default_headers:  # uvicorn swaps the list (its Date) once a second
        defaults = _defaults = (cycle.default_headers,
                                b"".join(b"%s: %s\r\n" % (name, value) for name, value in cycle.default_headers))
    if close or not cycle.keep_alive:
        cycle.keep_alive = False
        head += b"connection: close\r\n"
    data = STATUS_LINE[status] + defaults[1] + head + b"\r\n"
    if cycle.scope["method"] != "HEAD":
        data += body
    transport = cycle.transport
    transport.write(data)  # sent at the end of the loop's step (CoalescingTransport): measured, that matters
    cycle.response_complete = True
    cycle.message_event.set()
    if not cycle.keep_alive:
        transport.close()
    cycle.on_response()
    return True


class ConnectionLog(Protocol):
    """Where the answers this layer gives (and the connections it cuts) are logged."""

    def rejected(self, status: int, reason: str, client_ip: str) -> None: ...

    def cut(self, reason: str, client_ip: str) -> None: ...


class Rejected(Exception):
    """Raised inside a parser callback to stop parsing; `status`/`reason` are answered and logged."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def protocol_class(limits: Limits, log: ConnectionLog) -> type[RuntimeProtocol]:
    """A RuntimeProtocol bound to these limits (uvicorn instantiates the class it is given per connection)."""
    return type("BoundRuntimeProtocol", (RuntimeProtocol,), {"limits": limits, "log": log})


def _version_error(data: bytes) -> tuple[int, str]:
    m = VERSION_RE.search(data.split(b"\n", 1)[0])
    if m is not None and m.group(1) != b"1":
        return 505, f"HTTP/{m.group(1).decode()}.x is not supported; use HTTP/1.1"
    return 400, "malformed HTTP version"


class RuntimeProtocol(HttpToolsProtocol):
    limits: ClassVar[Limits]
    log: ClassVar[ConnectionLog]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.phase = IDLE
        self.since = self.loop.time()
        self.raw_head = 0  # bytes received while waiting for a head (catches a head that never ends)
        self.served = False
        self.draining = False
        self.deferred: tuple[int, str] | None = None  # an error to answer once earlier answers are out
        self.wbuf = 0
        self.wbuf_since = 0.0
        self.closing_since = 0.0

    # ---- connection ---------------------------------------------------------------------------------
    def connection_made(self, transport: Any) -> None:
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
        self.since = self.loop.time()
        if len(self.connections) > self.limits.max_connections:
            self._answer(503, "too many connections")

    def _client_ip(self) -> str:
        return self.client[0] if self.client else ""

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        waiting_head = self.phase in (IDLE, HEAD)
        if waiting_head:
            self.raw_head += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # Upgrade (websocket) and CONNECT are not served: the head was answered as a plain request, and
            # what follows it is not HTTP, so nothing more is read and the connection closes after the answer.
            self.flow.pause_reading()
            if self.cycle is not None:
                self.cycle.keep_alive = False
            return
        except httptools.HttpParserError as exc:
            cause = exc.__context__
            if isinstance(cause, Rejected):
                self._reject(cause.status, cause.reason)
            elif isinstance(exc, httptools.HttpParserInvalidMethodError) and REQUEST_LINE_RE.match(data):
                # RFC 9110 9.1: a well-formed request line with a method the parser does not know (methods are
                # case-sensitive: `get` is one) SHOULD be 501; garbage stays 400
                self._reject(501, "method not implemented")
            elif "version" in str(exc).lower():
                self._reject(*_version_error(data))
            else:
                self._reject(400, str(exc) or "malformed request")
            return
        if waiting_head and self.phase in (IDLE, HEAD) and self.raw_head > self.limits.max_header_bytes:
            self._reject(431, "request header fields too large")

    # ---- parser callbacks ---------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.served or self.phase != IDLE:  # the first request's head counts from the connection opening
            self.since = self.loop.time()
        self.phase = HEAD

    def on_headers_complete(self) -> None:
        self._check_head()
        self.phase = BODY
        self.since = self.loop.time()
        self.raw_head = 0
        super().on_headers_complete()
        if self.draining:
            self.cycle.keep_alive = False

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.phase = APP

    def on_response_complete(self) -> None:
        self.served = True
        pending = bool(self.pipeline)  # super() starts the next pipelined request, if any
        if self.phase == APP and not pending:
            self.phase = IDLE
            self.since = self.loop.time()
        if pending or self.transport.is_closing():
            super().on_response_complete()  # starts the next pipelined request; arms no timer
        else:
            # uvicorn's own version arms a keep-alive timer per response (loop.call_later, then a cancel on
            # the next request: about 4.5 us per request under uvloop); the sweeper enforces
            # keepalive_timeout instead, so only the rest of uvicorn's bookkeeping is done here
            self.server_state.total_requests += 1
            self.flow.resume_reading()
        if self.deferred is not None and not pending:
            status, reason = self.deferred
            self.deferred = None
            self._answer(status, reason)

    def _check_head(self) -> None:
        version = self.parser.get_http_version()
        if version not in ("1.1", "1.0"):
            if version.startswith("0"):
                raise Rejected(400, "malformed request line (HTTP/0.9 is not served)")
            raise Rejected(505, f"HTTP/{version} is not supported; use HTTP/1.1")
        hosts: list[bytes] = []
        codings: list[bytes] = []
        size = len(self.url)
        for name, value in self.headers:
            size += len(name) + len(value) + 4
            if name == b"host":
                hosts.append(value)
            elif name == b"transfer-encoding":
                codings += [c.strip().lower() for c in value.split(b",")]
        if size > self.limits.max_header_bytes:
            if size - len(self.url) < self.limits.max_header_bytes:
                raise Rejected(414, "request target too long")
            raise Rejected(431, "request header fields too large")
        if len(hosts) > 1 or (not hosts and version == "1.1"):
            raise Rejected(400, "a request needs exactly one Host header")
        if hosts and hosts[0] not in _hosts_ok:
            if not HOST_RE.fullmatch(hosts[0]):
                raise Rejected(400, "invalid Host header")
            if len(_hosts_ok) < 256:  # a server is called by few names: the check runs once per name
                _hosts_ok.add(hosts[0])
        if codings:
            if version == "1.0":
                raise Rejected(400, "Transfer-Encoding in an HTTP/1.0 request")
            if codings[-1] != b"chunked" or codings.count(b"chunked") > 1:
                raise Rejected(400, "chunked must be the final transfer coding, once")
            if len(codings) > 1:
                raise Rejected(501, "transfer codings other than chunked are not supported")

    # ---- answers given here -------------------------------------------------------------------------
    def _reject(self, status: int, reason: str) -> None:
        """Answer a request that cannot be served, in order: an earlier request's answer goes first."""
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            if cycle.more_body and not self.pipeline:
                # the broken request is the one being read: its application call gets a disconnect
                if cycle.response_started:
                    self.transport.close()
                    return
                cycle.disconnected = True
                cycle.message_event.set()
            else:
                # an earlier request is still being answered (pipelining): answer the error after it
                if self.pipeline and self.pipeline[0][0] is cycle:
                    self.pipeline.popleft()
                self.deferred = (status, reason)
                self.flow.pause_reading()
                return
        self._answer(status, reason)

    def _answer(self, status: int, reason: str) -> None:
        body = reason.encode("ascii", "replace") + b"\n"
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head.append(b"content-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
                    % len(body))
        if not self.transport.is_closing():
            self.transport.write(b"".join(head) + body)
            self.transport.close()
        self.log.rejected(status, reason, self._client_ip())

    def shutdown(self) -> None:
        """SIGTERM: finish what is in flight with `Connection: close`; idle connections get a short grace."""
        self.draining = True
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.keep_alive = False
        elif self.phase == IDLE:
            self.since = self.loop.time()  # the sweeper closes it after drain_grace unless a request comes

    # ---- timeouts (called by the sweeper) -----------------------------------------------------------
    def check(self, now: float) -> None:
        transport = self.transport
        if transport is None:
            return
        limits = self.limits
        size = transport.get_write_buffer_size()
        if size:
            if not self.wbuf_since or size < self.wbuf:
                self.wbuf_since = now  # the client took some: progress
            self.wbuf = size
            if now - self.wbuf_since > limits.write_timeout:
                self.log.cut(f"the client read nothing for {limits.write_timeout:g} s", self._client_ip())
                transport.abort()
                return
        else:
            self.wbuf_since = 0.0
        if transport.is_closing():
            if not self.closing_since:
                self.closing_since = now
            elif now - self.closing_since > limits.write_timeout:
                transport.abort()  # closed but never finished (its peer does not acknowledge)
            return
        phase, waited = self.phase, now - self.since
        if phase == IDLE:
            limit = limits.drain_grace if self.draining else (
                limits.keepalive_timeout if self.served else limits.header_timeout)
            if waited > limit:
                transport.close()
        elif phase == HEAD and waited > limits.header_timeout:
            self._reject(408, f"request head not complete within {limits.header_timeout:g} s")
        elif phase == BODY and waited > limits.body_timeout:
            if self.cycle is not None and self.cycle.response_started:
                transport.close()  # answered already (413, 401...): the rest of its body is not awaited
            else:
                self._reject(408, f"request body not complete within {limits.body_timeout:g} s")
