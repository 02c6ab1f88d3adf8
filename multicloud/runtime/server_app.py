"""Request dispatch of the private runtime: an ASGI application that uvicorn serves.

    GET /healthz                 answered on the event loop (no slot): ok, degraded or draining
    POST /_events/<function>     a CloudEvent -> the function (queue/stream/storage/schedule/direct views),
                                 or an S3-format bucket notification (MinIO's, Ceph RGW's webhook)
    a route from the spec        auth, then the function's HTTP dispatch (`HttpDispatch`, one per function)

Every call of a handler, whatever brought it (HTTP, a CloudEvent, a schedule, a background task such as
the broker consumer through `invoke`), goes through `call`: a slot of the worker pool (server_pool), the
function's timeout from arrival (504 past it), the same JSON logging (server_log). Handler styles plug in
per function through `HttpDispatch`: the default runs `def handler(event, context)` in a worker thread.
The `aws` and `wsgi` styles arrive here already adapted to that signature (multicloud.runtime.styles), so
they take the same path; `asgi` apps are served natively on this loop by server_asgi.AsgiDispatch
(streaming both ways, lifespan on this loop), under a slot of the same pool.

An `async def handler(event, context)` (`invoke.AsyncHandler`, found at load) is awaited on this loop
instead, through `call_here`: no thread hop (the largest cost the runtime adds to a trivial `def` handler,
docs/private-runtime.md), a slot of the same pool through `acquire`/`release`, and at its deadline the task
is cancelled, so the handler really stops (a thread cannot be). Which path a function takes is decided
once, when its dispatch is built; the `def` path does no extra work per call.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import json
import os
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from multicloud.runtime import intake
from multicloud.runtime.context import Context, Logger
from multicloud.runtime.events import Event, ScheduleInfo
from multicloud.runtime.http import Headers, HttpRequest, HttpResult, error_result, to_result, unquote
from multicloud.runtime.invoke import (
    AsyncHandler,
    handle_direct,
    handle_event,
    handle_http,
    handle_http_async,
    rfc3339,
    settled,
)
from multicloud.runtime.redact import mask
from multicloud.runtime.server_asgi import give_up
from multicloud.runtime.server_config import RuntimeConfig
from multicloud.runtime.server_events import parse_cloudevent, storage_notifications
from multicloud.runtime.server_log import JsonLog
from multicloud.runtime.server_pool import CallTimeout, Deadlines, QueueFull, WorkerCrashed, WorkerPool
from multicloud.runtime.server_protocol import TCHAR, write_response
from multicloud.runtime.server_request import HttpError, Request
from multicloud.runtime.server_routes import RouteTable

if TYPE_CHECKING:
    from multicloud.runtime.invoke import Handler

T = TypeVar("T")
Answer = tuple[int, list[tuple[str, str]], bytes]
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Service = Callable[["RuntimeApp"], Awaitable[None]]

JSON = [("Content-Type", "application/json")]
EVENTS_PREFIX = "/_events/"
KEY_HEADER = "x-multicloud-key"
BODY_HEADERS = frozenset(("content-length", "transfer-encoding"))
REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:\-]{1,128}")  # a caller's X-Request-Id is kept only if it is tame
TOKEN_RE = re.compile(TCHAR + "+")
CTL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # what may not be in a header value (uvicorn's rule)
# framing is the server's: a handler cannot set these, nor split the response with CR/LF
SERVER_HEADERS = frozenset(("content-length", "connection", "transfer-encoding", "date", "server", "keep-alive"))
_names: dict[str, bytes | None] = {}  # header name -> `name: ` as bytes, or None when a handler may not send it


def encode_headers(headers: list[tuple[str, str]]) -> bytes:
    """A handler's headers as a header block (`name: value\r\n` lines): never the framing ones, never a
    control character (CR/LF would split the response). Names repeat from request to request, so each is
    checked once (the cache is bounded)."""
    out = b""
    for name, value in headers:
        key = _names.get(name, b"")
        if key == b"":
            lower = name.lower()
            key = None if lower in SERVER_HEADERS or not TOKEN_RE.fullmatch(name) else lower.encode() + b": "
            if len(_names) < 1024:
                _names[name] = key
        if key is None or CTL_RE.search(value) is not None:
            continue
        out += key + value.encode("latin-1", "replace") + b"\r\n"
    return out


def _framed(status: int, headers: list[tuple[str, str]], body: bytes) -> tuple[bytes, bytes]:
    """(the header block with Content-Length, the body to send): none for 1xx, 204 and 304 (RFC 9110 8.6)."""
    head = encode_headers(headers)
    if status >= 200 and status not in (204, 304):
        return head + b"content-length: %d\r\n" % len(body), body
    return head, b""


def _answer_of(result: HttpResult, request_id: str) -> Answer:
    """A handler's HTTP result as the server's answer: its cookies as Set-Cookie, the request id added."""
    headers = result.headers
    for cookie in result.cookies:
        headers.append(("Set-Cookie", cookie))
    headers.append(("X-Request-Id", request_id))
    return result.status, headers, result.body


def _handled(count: int, request_id: str) -> Answer:
    return 200, [*JSON, ("X-Request-Id", request_id)], json.dumps({"handled": count}).encode()


class _Expiry:
    """The deadline entry of a call awaited on the loop (`call_here`), watched by `Deadlines` as a thread
    call's future is: when it expires, the task running the call is cancelled, unless the call is already
    `over` (it ended in the same loop step). No future and no done-callback per call (measured: about 1 us
    per request less than a guard future), and no reference cycle for the garbage collector to find."""

    __slots__ = ("task", "over", "expired")

    def __init__(self, task: asyncio.Task[Any]) -> None:
        self.task = task
        self.over = False
        self.expired = False

    def done(self) -> bool:
        return self.over or self.expired

    def set_exception(self, exc: BaseException) -> None:  # what `Deadlines` does to an expired entry
        self.expired = True
        self.task.cancel()


def header_pairs(block: bytes) -> list[tuple[bytes, bytes]]:
    """A header block back as ASGI header pairs (for a `send` that is not uvicorn's connection)."""
    pairs = []
    for line in block.split(b"\r\n")[:-1]:
        name, _, value = line.partition(b": ")
        pairs.append((name, value))
    return pairs


@dataclass
class Outcome:
    """What `invoke` reports: 200 (ran), 429 (queue full), 500 (raised), 504 (timed out)."""

    status: int
    failed: list[str] = field(default_factory=list)  # ids a BatchResult named
    value: object = None  # a direct event's return value
    request_id: str = ""
    error: str | None = None  # why, when status is not 200 (secret values masked): a dead letter keeps it


@dataclass(slots=True)
class HttpCall:
    """One routed HTTP request, as a function's HTTP dispatch receives it."""

    request: Request
    function: str
    params: dict[str, str]
    request_id: str
    scope: Scope
    receive: Receive
    send: Send


class Abandoned(Exception):
    """The drain timeout passed with the call still running: the process is stopping."""


class HttpDispatch(Protocol):
    """How one function serves its HTTP routes (the handler style). Must answer exactly once."""

    async def http(self, call: HttpCall) -> None: ...


class HandlerDispatch:
    """The portable style: `def handler(event, context)` run in a worker thread (`RuntimeApp.call`), or an
    `async def` one awaited on the loop (`RuntimeApp.call_here`), chosen here once; its return value mapped."""

    def __init__(self, app: RuntimeApp, function: str) -> None:
        self.app = app
        self.function = function
        self.call: Callable[[str, Callable[[float], Any]], Awaitable[Answer]]
        self.run: Callable[..., Any]
        if function in app.on_loop:
            self.call, self.run = app.call_here, app.run_http_async
        else:
            self.call, self.run = app.call, app.run_http

    async def http(self, call: HttpCall) -> None:
        app, request, name = self.app, call.request, self.function
        body = b""  # no body: nothing to await
        for key, _ in request.headers:
            if key in BODY_HEADERS:
                got = await app.read_body(call)
                if got is None:
                    return
                body = got
                break
        http_request = HttpRequest(
            request.method, unquote(request.path), path_params=call.params, query=request.query_string,
            headers=Headers.of_pairs(request.headers), client_ip=request.client_ip, body=body, raw=request,
        )
        try:
            answer = await self.call(name, partial(self.run, name, http_request, call.request_id))
        except Exception as exc:  # noqa: BLE001 - the limits, as answers
            answer = app.failure(name, call.request_id, exc)
        extra: dict[str, object] = {"function": name, "request_id": call.request_id}
        if not app.answer(call.send, request, *answer, extra, answer[0] >= 503):
            await app.respond(call.send, request, *answer, extra, close=answer[0] >= 503)


class Background:
    """Long-running asyncio tasks on the server's loop (a broker consumer, for example).

    `add(name, service, setup=...)` before the server starts. `setup(app)`, when given, is awaited on the
    server's loop before the server listens and reports ready: raising there refuses the start (the
    broker consumer binds its consumers there, so a version that cannot consume never replaces one that
    can). `service(app)` runs once the server listens. When the drain starts (SIGTERM) `app.drain_event`
    is set first, before connections are closed: a service stops taking new work, finishes what it holds
    (its calls go through `app.invoke`, under the same slots and timeouts) and returns. Whatever still runs
    at the drain deadline is cancelled. A service that raises is logged; the server keeps serving.
    """

    def __init__(self, log: JsonLog) -> None:
        self.log = log
        self.services: list[tuple[str, Service]] = []
        self.setups: list[tuple[str, Service]] = []
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def add(self, name: str, service: Service, setup: Service | None = None) -> None:
        self.services.append((name, service))
        if setup is not None:
            self.setups.append((name, setup))

    async def set_up(self, app: RuntimeApp) -> None:
        """Every service's `setup`, in the order added; the first exception propagates."""
        for _name, setup in self.setups:
            await setup(app)

    def start(self, app: RuntimeApp) -> None:
        for name, service in self.services:
            task = asyncio.ensure_future(service(app))
            task.add_done_callback(partial(self._ended, name))
            self.tasks[name] = task

    def _ended(self, name: str, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            self.log.event("background task failed", level="ERROR", task=name, error=f"{type(exc).__name__}: {exc}")

    async def stop(self, deadline: float) -> None:
        pending = [t for t in self.tasks.values() if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=max(0.0, deadline - time.monotonic()))
        for task in pending:
            task.cancel()


class RuntimeApp:
    def __init__(self, config: RuntimeConfig, handlers: dict[str, Callable[..., object]], auth_key: str | None,
                 log: JsonLog) -> None:
        self.config = config
        self.limits = config.limits
        self.handlers = handlers
        self.auth_key = auth_key.encode() if auth_key is not None else None
        self.log = log
        self.routes = RouteTable(config.routes)
        self.key_functions = frozenset(r.function for r in config.routes if r.auth == "key")
        self.timeouts = {name: fn.timeout for name, fn in config.functions.items()}
        self.pool = WorkerPool(config.limits.concurrency, config.limits.max_queue)
        # `async def` handlers: awaited on this loop (call_here), never in a worker thread
        self.on_loop: dict[str, Callable[[Event, Context], Awaitable[object]]] = {
            name: handler.func for name, handler in handlers.items() if isinstance(handler, AsyncHandler)}
        self.dispatch: dict[str, HttpDispatch] = {name: self._dispatch_of(name, handler)
                                                  for name, handler in handlers.items()}
        self.background = Background(log)
        self.intake: intake.Intake | None = None  # POST /_queues/, /_streams/ (set by the server when configured)
        self.draining = False
        self.drain_event: asyncio.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.deadlines: Deadlines | None = None  # the calls' timeouts (set with the loop)
        self.pid = os.getpid()
        self._id_prefix = os.urandom(6).hex()
        self._ids = itertools.count(1)
        self._schedule_busy: set[tuple[str, int]] = set()
        self.logger = Logger()  # handlers' base logger (level read once from MULTICLOUD_LOG_LEVEL)

    def _dispatch_of(self, name: str, handler: Callable[..., object]) -> HttpDispatch:
        from multicloud.runtime.server_asgi import AsgiDispatch, NativeAsgi

        if isinstance(handler, NativeAsgi):  # style asgi: served on this loop, streaming (server_asgi)
            return AsgiDispatch(self, name, handler)
        return HandlerDispatch(self, name)

    async def start_apps(self) -> None:
        """Lifespan startup of the ASGI apps served natively, on the server's loop, before it listens.
        Raises server_asgi.LifespanFailed."""
        from multicloud.runtime.server_asgi import Lifespan, NativeAsgi

        for name, handler in self.handlers.items():
            if isinstance(handler, NativeAsgi):
                lifespan = Lifespan(handler)
                if await lifespan.startup():
                    handler.lifespan = lifespan
                    self.log.event("lifespan startup complete", function=name)

    async def stop_apps(self) -> None:
        """Lifespan shutdown of the ASGI apps served natively, after the drain."""
        from multicloud.runtime.server_asgi import NativeAsgi

        for name, handler in self.handlers.items():
            if isinstance(handler, NativeAsgi) and handler.lifespan is not None:
                outcome = await handler.lifespan.shutdown()
                self.log.event(f"lifespan shutdown {outcome or 'ended'}", function=name,
                               level="INFO" if outcome == "complete" else "WARNING")

    def request_id(self) -> str:
        """Unique per process start (random prefix) and cheap: no system call per request."""
        return f"{self._id_prefix}-{next(self._ids):x}"

    # ---- lifecycle (called by server.RuntimeServer) --------------------------------------------------
    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.deadlines = Deadlines(loop)
        self.drain_event = asyncio.Event()

    def begin_drain(self) -> None:
        self.draining = True
        if self.drain_event is not None:
            self.drain_event.set()

    # ---- logging of answers given below the app (server_protocol.ConnectionLog) ----------------------
    def rejected(self, status: int, reason: str, client_ip: str) -> None:
        self.log.write({"level": "INFO" if status < 500 else "ERROR", "type": "access", "status": status,
                        "bytes": 0, "error": reason, "client_ip": client_ip})

    def cut(self, reason: str, client_ip: str) -> None:
        self.log.write({"level": "WARNING", "type": "connection", "message": "connection cut", "reason": reason,
                        "client_ip": client_ip})

    # ---- ASGI entry ----------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        client = scope.get("client")
        request = Request(
            scope["method"], scope["raw_path"].decode("latin-1"), scope["query_string"].decode("latin-1"),
            [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]],
            client[0] if client else "", time.perf_counter(),
        )
        path = request.path
        if path == "/healthz":
            return await self._healthz(request, send)
        given_id = request.header("x-request-id")
        request_id = given_id if given_id and REQUEST_ID_RE.fullmatch(given_id) else self.request_id()
        if path.startswith("/_"):  # the runtime's own endpoints all start so; spec routes are looked up below
            intake_route = intake.route_of(path)
            if intake_route is not None:
                return await self._intake(request, *intake_route, request_id, scope, receive, send)
            if path.startswith(EVENTS_PREFIX):
                try:
                    return await self._event(request, unquote(path[len(EVENTS_PREFIX):]).strip("/"), request_id,
                                             scope, receive, send)
                except HttpError as err:  # a CloudEvent that cannot be read, a function that does not exist
                    return await self.respond(send, request, err.status, list(JSON),
                                              json.dumps({"error": err.message}).encode(), {}, close=err.status == 400)
        match = self.routes.match(request.method, path)
        route = match.route
        if route is None:
            if match.allowed:
                return await self.respond(send, request, 405, [("Allow", ", ".join(match.allowed)), *JSON],
                                          b'{"error":"method not allowed"}', {})
            return await self.respond(send, request, 404, list(JSON), b'{"error":"not found"}', {})
        request.route = route.path
        if route.auth == "key" and not self._authorized(request):
            return await self.respond(send, request, 401, [("WWW-Authenticate", "Bearer"), *JSON],
                                      b'{"error":"missing or wrong key"}', {"function": route.function})
        call = HttpCall(request, route.function, match.params, request_id, scope, receive, send)
        await self.dispatch[route.function].http(call)

    async def _healthz(self, request: Request, send: Send) -> None:
        if self.draining:
            return await self.respond(send, request, 503, list(JSON), b'{"status":"draining"}', {})
        pool = self.pool
        stuck = pool.stuck_for(time.monotonic())
        state = {"pid": self.pid, "running": pool.running, "queued": pool.waiting}
        if stuck > self.config.longest_timeout:
            # no slot has been free, and no call has finished, for longer than any call may take
            body = json.dumps({"status": "degraded", "stuck_seconds": round(stuck, 1), **state}).encode()
            return await self.respond(send, request, 503, list(JSON), body, {})
        await self.respond(send, request, 200, list(JSON), json.dumps({"status": "ok", **state}).encode(), {})

    async def _event(self, request: Request, name: str, request_id: str, scope: Scope, receive: Receive,
                     send: Send) -> None:
        if name not in self.handlers:
            raise HttpError(404, f"no function {name!r}")
        extra: dict[str, object] = {"function": name}
        if request.method != "POST":
            return await self.respond(send, request, 405, [("Allow", "POST"), *JSON],
                                      b'{"error":"POST a CloudEvent"}', extra)
        if name in self.key_functions and not self._authorized(request):
            # a function behind `auth: key` must not be reachable keyless through its events endpoint
            return await self.respond(send, request, 401, [("WWW-Authenticate", "Bearer"), *JSON],
                                      b'{"error":"missing or wrong key"}', extra)
        body = await self.read_body(HttpCall(request, name, {}, request_id, scope, receive, send))
        if body is None:
            return
        request.body = body
        notifications = storage_notifications(request, self.config, name)
        on_loop = name in self.on_loop
        if notifications is not None:  # a bucket notification POSTed by MinIO or Ceph RGW (webhook)
            work: Callable[[float], Any] = partial(self.run_events_async if on_loop else self.run_events, name,
                                                   notifications, request_id)
        else:
            work = partial(self.run_event_async if on_loop else self.run_event, name, parse_cloudevent(request),
                           request_id)
        answer: Answer
        try:
            answer = await (self.call_here(name, work) if on_loop else self.call(name, work))
        except Exception as exc:  # noqa: BLE001 - the limits, as answers
            answer = self.failure(name, request_id, exc)
        await self.respond(send, request, *answer, {"function": name, "request_id": request_id},
                           close=answer[0] >= 503)

    async def _intake(self, request: Request, kind: str, name: str, request_id: str, scope: Scope,
                      receive: Receive, send: Send) -> None:
        """POST /_queues/<q>, /_streams/<s>: publish the body (multicloud.runtime.intake says how)."""
        broker = self.config.broker
        reader = next((s.function for s in broker.subscriptions if s.kind == kind and s.name == name), None
                      ) if broker is not None else None
        extra: dict[str, object] = {**({"function": reader} if reader else {}), kind: name, "request_id": request_id}

        async def respond(status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
            await self.respond(send, request, status, [*headers, *JSON], body, extra, close=status == 413)

        await intake.serve(self.intake, self.auth_key is not None, self._authorized(request), request.method, kind,
                           name, request.headers,
                           partial(self.read_body, HttpCall(request, "", {}, request_id, scope, receive, send)),
                           respond)

    def _authorized(self, request: Request) -> bool:
        if self.auth_key is None:
            return False  # fail closed (the server also refuses to start without a key)
        given = request.header(KEY_HEADER)
        if given is None:
            auth = request.header("authorization") or ""
            if auth[:7].lower() == "bearer ":
                given = auth[7:].strip()
        if given is None:
            return False
        return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), self.auth_key)

    # ---- helpers for dispatches ------------------------------------------------------------------------
    async def read_body(self, call: HttpCall) -> bytes | None:
        """The whole request body, or None when it was answered here (413 over the limit; the client left)."""
        request, limit = call.request, self.limits.max_body_bytes
        length = request.header("content-length")
        if length is None and request.header("transfer-encoding") is None:
            return b""
        if length is not None and int(length) > limit:
            await self.respond(call.send, request, 413, list(JSON),
                               json.dumps({"error": f"request body over the {limit} byte limit"}).encode(), {},
                               close=True)
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await call.receive()
            if message["type"] != "http.request":
                return None  # the client went away (or the connection layer answered 400/408)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self.respond(call.send, request, 413, list(JSON),
                                   json.dumps({"error": f"request body over the {limit} byte limit"}).encode(), {},
                                   close=True)
                return None
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    async def respond(self, send: Send, request: Request, status: int, headers: list[tuple[str, str]], body: bytes,
                      extra: dict[str, object], *, close: bool = False) -> None:
        """Send one whole response and write its access line (the route template, never path values)."""
        head, body = _framed(status, headers, body)
        if not write_response(send, status, head, body, close):
            out = header_pairs(head)
            if close:
                out.append((b"connection", b"close"))
            await send({"type": "http.response.start", "status": status, "headers": out})
            await send({"type": "http.response.body", "body": body})
        self._access_line(request, status, len(body), extra)

    def answer(self, send: Send, request: Request, status: int, headers: list[tuple[str, str]], body: bytes,
               extra: dict[str, object], close: bool = False) -> bool:
        """`respond` without awaiting, when the response can go out in one write now (the usual case, see
        server_protocol.write_response); False, having sent nothing, when it cannot: then await `respond`."""
        head, body = _framed(status, headers, body)
        if not write_response(send, status, head, body, close):
            return False
        self._access_line(request, status, len(body), extra)
        return True

    def _access_line(self, request: Request, status: int, size: int, extra: dict[str, object]) -> None:
        self.log.access(request.method, request.route or request.path, status, size, request.client_ip,
                        (time.perf_counter() - request.started) * 1000, extra)

    # ---- one call: slot, deadline, handler ----------------------------------------------------------
    async def call(self, function: str, work: Callable[[float], T]) -> T:
        """Run `work(deadline)` in a slot under `function`'s timeout. Raises QueueFull, CallTimeout,
        WorkerCrashed (something escaped the handler's own error handling)."""
        loop, deadlines = self.loop, self.deadlines
        assert loop is not None and deadlines is not None
        timeout = self.timeouts[function]
        fut = self.pool.submit(loop, partial(work, time.monotonic() + timeout))
        deadlines.watch(fut, timeout)
        try:
            return await fut
        except asyncio.CancelledError:
            # only uvicorn cancels, when the drain timeout passes with the handler still running: the
            # process is stopping, and the caller is told so instead of being cut off
            raise Abandoned from None
        finally:
            deadlines.forget(fut)

    async def call_here(self, function: str, work: Callable[[float], Awaitable[T]]) -> T:
        """`call` for an async handler: `await work(deadline)` on this loop, in a slot of the same pool
        (`acquire`/`release`, so `concurrency`, the wait queue, /healthz and the drain count it), under
        `function`'s timeout from arrival. At the deadline the running task is cancelled (the handler stops
        at its next await) and CallTimeout raised; the slot is held until the handler has really ended.
        Raises QueueFull, CallTimeout, Abandoned (uvicorn cancelled the call at the drain deadline)."""
        loop, deadlines, pool = self.loop, self.deadlines, self.pool
        assert loop is not None and deadlines is not None
        timeout = self.timeouts[function]
        deadline = time.monotonic() + timeout
        waiting = pool.acquire(loop)  # None: the slot is held now
        task = asyncio.current_task()
        assert task is not None
        expiry = _Expiry(task)
        deadlines.watch(expiry, timeout)
        held = waiting is None
        try:
            if waiting is not None:
                await waiting
                held = True
            result = await work(deadline)
        except asyncio.CancelledError:
            if not expiry.expired:
                raise Abandoned from None  # not our deadline: uvicorn's, the process is stopping
        finally:
            expiry.over = True
            deadlines.forget(expiry)
            if held:
                pool.release(loop)
            elif waiting is not None:
                give_up(pool, loop, waiting)
        if expiry.expired:  # the deadline passed: a result that came after it is dropped, as a thread's
            if hasattr(task, "uncancel"):  # 3.11+: the request's task goes on answering
                task.uncancel()
            raise CallTimeout
        return result

    def failure(self, function: str, request_id: str, exc: Exception) -> Answer:
        """What an HTTP caller answers when `call` raised: the limits become 429 / 504 / 500 / 503."""
        if isinstance(exc, QueueFull):
            return 429, [("Retry-After", "1"), *JSON], b'{"error":"too many requests"}'
        if isinstance(exc, CallTimeout):
            body = json.dumps({"error": f"function timed out after {self.timeouts[function]:g} s"}).encode()
            return 504, [*JSON, ("X-Request-Id", request_id)], body
        if isinstance(exc, WorkerCrashed):
            err = error_result(500)
            return 500, [*err.headers, ("X-Request-Id", request_id)], err.body
        if isinstance(exc, Abandoned):
            body = b'{"error":"the server stopped before the function finished"}'
            return 503, [*JSON, ("X-Request-Id", request_id)], body
        raise exc

    def _context(self, name: str, request_id: str, deadline: float) -> Context:
        return Context(name, request_id, self.config.target, memory_limit_mb=self.config.functions[name].memory,
                       deadline=deadline, logger=self.logger)

    def _crashed(self, ctx: Context, exc: BaseException) -> Answer:
        """In the worker thread: a handler calling sys.exit (or raising another BaseException) is a 500."""
        ctx.logger.exception(f"handler raised {type(exc).__name__}; answered 500, the server keeps serving", exc)
        err = error_result(500)
        return err.status, [*err.headers, ("X-Request-Id", ctx.request_id)], err.body

    def run_http(self, name: str, request: HttpRequest, request_id: str, deadline: float) -> Answer:
        ctx = self._context(name, request_id, deadline)
        try:
            result = handle_http(self.handlers[name], request, ctx)  # never raises an Exception
        except BaseException as exc:  # noqa: BLE001 - SystemExit/KeyboardInterrupt must not end the server
            return self._crashed(ctx, exc)
        return _answer_of(result, request_id)

    async def run_http_async(self, name: str, request: HttpRequest, request_id: str, deadline: float) -> Answer:
        """`run_http` for an async handler, on the loop."""
        ctx = self._context(name, request_id, deadline)
        try:
            result = await handle_http_async(self.on_loop[name], request, ctx)  # raises no Exception
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - SystemExit/KeyboardInterrupt must not end the server
            return self._crashed(ctx, exc)
        return _answer_of(result, request_id)

    def run_event(self, name: str, event: Event, request_id: str, deadline: float) -> Answer:
        return self._event_answer(self.handlers[name], event, self._context(name, request_id, deadline))

    async def run_event_async(self, name: str, event: Event, request_id: str, deadline: float) -> Answer:
        """`run_event` for an async handler: awaited here, then mapped by the same code as a `def` one's."""
        ctx = self._context(name, request_id, deadline)
        return self._event_answer(await settled(self.on_loop[name], event, ctx), event, ctx)

    def _event_answer(self, handler: Handler, event: Event, ctx: Context) -> Answer:
        request_id = ctx.request_id
        try:
            if event.kind == "direct":
                result = to_result(handle_direct(handler, event, ctx))
                return result.status, [*result.headers, ("X-Request-Id", request_id)], result.body
            failed = handle_event(handler, event, ctx)
        except Exception:  # logged with its traceback by handle_event / handle_direct
            err = error_result(500, "handler failed; the event should be retried")
            return err.status, [*err.headers, ("X-Request-Id", request_id)], err.body
        except BaseException as exc:  # noqa: BLE001
            return self._crashed(ctx, exc)
        return 200, [*JSON, ("X-Request-Id", request_id)], json.dumps({"failed": failed}).encode()

    def run_events(self, name: str, events: list[Event], request_id: str, deadline: float) -> Answer:
        """Several storage events from one notification, in order, in one slot; the first failure answers
        (MinIO and RGW retry the whole notification)."""
        for event in events:
            answer = self.run_event(name, event, request_id, deadline)
            if answer[0] != 200:
                return answer
        return _handled(len(events), request_id)

    async def run_events_async(self, name: str, events: list[Event], request_id: str, deadline: float) -> Answer:
        """`run_events` for an async handler."""
        for event in events:
            answer = await self.run_event_async(name, event, request_id, deadline)
            if answer[0] != 200:
                return answer
        return _handled(len(events), request_id)

    # ---- the internal call path: background services and schedules ---------------------------------
    async def invoke(self, function: str, event: Event, *, request_id: str | None = None,
                     log_type: str | None = "event", fields: dict[str, object] | None = None) -> Outcome:
        """Run `function` with `event` under the same slots, timeout and logging as an HTTP call.

        For code running on the server's loop (background services, schedules). Never raises for the
        handler's sake: the outcome's status says what happened (200, 429, 500, 504) and its `error` why,
        and one JSON line (`type: event` unless told otherwise) records it. `log_type=None` leaves that
        line to the caller (the broker consumer writes one per batch, after its acks); the handler's own
        logs and tracebacks are written either way.
        """
        request_id = request_id or self.request_id()
        started = time.perf_counter()

        def outcome_of(handler: Handler, ctx: Context) -> Outcome:
            try:
                if event.kind == "direct":
                    return Outcome(200, value=handle_direct(handler, event, ctx), request_id=request_id)
                return Outcome(200, failed=handle_event(handler, event, ctx), request_id=request_id)
            except Exception as exc:  # logged with its traceback by handle_event / handle_direct
                return Outcome(500, request_id=request_id, error=mask(f"{type(exc).__name__}: {exc}"))
            except BaseException as exc:  # noqa: BLE001 - sys.exit in a handler: a failure, not the end
                ctx.logger.exception(f"handler raised {type(exc).__name__}", exc)
                return Outcome(500, request_id=request_id, error=f"the handler raised {type(exc).__name__}")

        def work(deadline: float) -> Outcome:  # in a worker thread
            return outcome_of(self.handlers[function], self._context(function, request_id, deadline))

        async def work_here(deadline: float) -> Outcome:  # an async handler, on this loop
            ctx = self._context(function, request_id, deadline)
            return outcome_of(await settled(self.on_loop[function], event, ctx), ctx)

        try:
            outcome = await (self.call_here(function, work_here) if function in self.on_loop
                             else self.call(function, work))
        except QueueFull:
            outcome = Outcome(429, request_id=request_id, error="too many calls waiting for a concurrency slot")
        except CallTimeout:
            outcome = Outcome(504, request_id=request_id,
                              error=f"the function timed out after {self.timeouts[function]:g} s")
        except WorkerCrashed as exc:
            outcome = Outcome(500, request_id=request_id, error=f"the worker crashed ({exc})")
        except Abandoned:
            outcome = Outcome(500, request_id=request_id, error="the server stopped before the function finished")
        status = outcome.status
        if log_type is not None:
            self.log.write({"level": "INFO" if status == 200 else "ERROR", "type": log_type, "status": status,
                            "function": function, "request_id": request_id, "event_type": event.type,
                            **(fields or {}), **({"error": outcome.error} if outcome.error else {}),
                            "duration_ms": round((time.perf_counter() - started) * 1000, 3)})
        return outcome

    def fire_schedule(self, name: str, index: int, due: datetime) -> None:
        """Called from the scheduler's thread: hand the firing to the loop."""
        if self.loop is not None and not self.draining:
            self.loop.call_soon_threadsafe(self._schedule, name, index, due)

    def _schedule(self, name: str, index: int, due: datetime) -> None:
        key = (name, index)
        sched = [s for s in self.config.schedules if s.function == name][index]
        if self.draining:
            return
        if key in self._schedule_busy:
            self.log.write({"level": "WARNING", "type": "schedule", "function": name, "schedule": sched.expression,
                            "skipped": "the previous run is still going"})
            return
        self._schedule_busy.add(key)
        request_id = self.request_id()
        event = Event("schedule", id=request_id, source=f"/{self.config.target}/{self.config.service}/schedules",
                      time=rfc3339(due.timestamp()), data={"time": due.isoformat(), "name": sched.expression},
                      schedule=ScheduleInfo(due, sched.expression))
        task = asyncio.ensure_future(self.invoke(name, event, request_id=request_id, log_type="schedule",
                                                 fields={"schedule": sched.expression}))
        task.add_done_callback(lambda _t: self._schedule_busy.discard(key))

