"""`style: asgi` served natively by the private runtime: the app runs on the server's own event loop.

The clouds' shims buffer an ASGI app behind their one-answer invoke (multicloud.runtime.asgi). The private
runtime is itself an ASGI server (uvicorn), so it hands each routed request straight to the app: the
request body streams from uvicorn's `receive`, the response goes to uvicorn's `send` as the app produces
it (a StreamingResponse streams, chunked), and the app's lifespan runs on the serving loop, so the
connection pools it opens at startup are the ones its requests use. What the runtime still guarantees:

* a slot of the worker pool (`WorkerPool.acquire`: the same `concurrency`, `max_queue` with 429,
  `/healthz` counts and drain as handler threads), held until the app's call really ends;
* the function's timeout: 504 if no response has started; if one has, the connection is closed
  mid-response (the client sees a truncated body, never a complete-looking one);
* the body limit: 413 from `Content-Length`, or as soon as a streamed body passes it (the app then
  reads a disconnect and whatever it sends is dropped);
* an exception before the response starts is the runtime's generic 500 (traceback in the log, secrets
  masked); after a complete response (Starlette's error middleware answers 500, then re-raises) it is
  logged and the answer stands;
* one access line per request, with the route template and the status the app sent.

Lifespan: `startup` before the server listens (a failed startup refuses the start, as a handler that
does not import does), `shutdown` after the drain; an app that does not speak lifespan (it raises on the
lifespan scope or returns without answering) is served without it, as uvicorn's `lifespan="auto"` does.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

from multicloud.runtime.asgi import ASGI
from multicloud.runtime.asgi import scope as asgi_scope
from multicloud.runtime.http import Headers, HttpRequest, error_result
from multicloud.runtime.server_pool import QueueFull, WorkerPool

if TYPE_CHECKING:
    from multicloud.runtime.context import Context
    from multicloud.runtime.events import Event
    from multicloud.runtime.server_app import HttpCall, Receive, RuntimeApp, Send

Message = dict[str, Any]
STARTUP_TIMEOUT = 60.0
SHUTDOWN_TIMEOUT = 5.0


class NativeAsgi:
    """The handler entry of a function whose ASGI app the server serves itself (AsgiDispatch).

    Called as a portable handler (a CloudEvent or a schedule sent to the function), it refuses, as the
    buffered adapter does: an ASGI app serves HTTP requests only."""

    def __init__(self, app: Any, spec: str) -> None:
        self.app = app
        self.spec = spec
        self.state: dict[str, object] = {}
        self.lifespan: Lifespan | None = None

    def __call__(self, event: Event, ctx: Context) -> object:
        raise TypeError(f"an ASGI app serves HTTP requests; it cannot take a {event.kind} event")


class LifespanFailed(Exception):
    """The app's lifespan startup failed (it sent `lifespan.startup.failed`, or did not answer in time)."""


class Lifespan:
    """The lifespan protocol on the server's loop: `startup()` before listening, `shutdown()` after the drain."""

    def __init__(self, entry: NativeAsgi) -> None:
        self.entry = entry
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.answers: dict[str, asyncio.Future[str]] = {}
        self.task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        scope: Message = {"type": "lifespan", "asgi": dict(ASGI), "state": self.entry.state}

        async def send(message: Message) -> None:
            _, phase, outcome = ([*str(message.get("type", "")).split("."), "", ""])[:3]
            answer = self.answers.get(phase)
            if answer is not None and not answer.done():
                answer.set_result("complete" if outcome == "complete" else f"failed: {message.get('message') or ''}")

        try:
            await self.entry.app(scope, self.inbox.get, send)
        finally:
            for answer in self.answers.values():
                if not answer.done():
                    answer.set_result("")  # the app returned or raised: nobody will answer any more

    async def startup(self) -> bool:
        """True: the app completed its startup; False: it does not speak lifespan. Raises LifespanFailed."""
        loop = asyncio.get_running_loop()
        self.answers = {"startup": loop.create_future(), "shutdown": loop.create_future()}
        self.inbox.put_nowait({"type": "lifespan.startup"})
        self.task = asyncio.ensure_future(self._run())
        self.task.add_done_callback(_quiet)
        try:
            outcome = await asyncio.wait_for(asyncio.shield(self.answers["startup"]), STARTUP_TIMEOUT)
        except asyncio.TimeoutError:
            self.task.cancel()
            raise LifespanFailed(f"{self.entry.spec}: the ASGI app's lifespan startup did not finish within "
                                 f"{STARTUP_TIMEOUT:g} s") from None
        if outcome == "complete":
            return True
        if outcome:
            raise LifespanFailed(f"{self.entry.spec}: the ASGI app's lifespan startup {outcome}")
        return False

    async def shutdown(self, timeout: float = SHUTDOWN_TIMEOUT) -> str:
        """Send `lifespan.shutdown` and wait for the answer (or the app's end): 'complete', 'failed: ...'."""
        if self.task is None or self.task.done():
            return ""
        self.inbox.put_nowait({"type": "lifespan.shutdown"})
        try:
            return await asyncio.wait_for(asyncio.shield(self.answers["shutdown"]), timeout)
        except asyncio.TimeoutError:
            self.task.cancel()
            return f"failed: no answer within {timeout:g} s"


def give_up(pool: WorkerPool, loop: asyncio.AbstractEventLoop, waiting: asyncio.Future[None]) -> None:
    """Stop waiting for a slot: leave the queue, or give back a slot granted in the same instant."""
    pool.abandon(waiting)
    if waiting.done() and not waiting.cancelled():
        pool.release(loop)
    else:
        waiting.cancel()  # a grant already on its way sees the future done and gives the slot back


def _quiet(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()  # an app without lifespan raises on its scope: expected, not an unretrieved error


class _Exchange:
    """One request between uvicorn and the app: the body in under the limit, the response out, as it comes."""

    __slots__ = ("receive_", "send_", "limit", "size", "started", "complete", "status", "sent", "finished",
                 "over_limit", "request_id", "length")

    def __init__(self, receive: Receive, send: Send, limit: int, request_id: str) -> None:
        self.receive_ = receive
        self.send_ = send
        self.limit = limit
        self.request_id = request_id
        self.size = 0
        self.length = 0  # response body bytes sent
        self.status = 0
        self.started = False  # http.response.start went out
        self.complete = False  # the last body message went out
        self.sent = False  # our own answer (413, 504, 500) went out instead: the app's messages are dropped
        self.finished = False  # the dispatch returned: nothing more reaches uvicorn
        self.over_limit = False

    async def receive(self) -> Message:
        if self.over_limit or self.finished:
            return {"type": "http.disconnect"}
        message = await self.receive_()
        if message["type"] == "http.request":
            self.size += len(message.get("body", b""))
            if self.size > self.limit:
                self.over_limit = True
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: Message) -> None:
        if self.sent or self.finished or self.over_limit:
            return  # answered by the runtime (413, 504...), or the call is over: the app's messages go nowhere
        kind = message["type"]
        if kind == "http.response.start":
            if self.started:
                raise RuntimeError("http.response.start sent twice")
            self.started = True
            self.status = int(message["status"])
            headers = list(message.get("headers") or ())
            headers.append((b"x-request-id", self.request_id.encode()))
            message = {**message, "headers": headers}
        elif kind == "http.response.body":
            if not self.started:
                raise RuntimeError("http.response.body sent before http.response.start")
            self.length += len(message.get("body", b""))
            if not message.get("more_body"):
                self.complete = True
        await self.send_(message)


class AsgiDispatch:
    """`style: asgi` on the private runtime: the app called on the server's loop with uvicorn's own stream."""

    def __init__(self, app: RuntimeApp, function: str, entry: NativeAsgi) -> None:
        self.app = app
        self.function = function
        self.entry = entry
        self.timeout = app.timeouts[function]

    async def http(self, call: HttpCall) -> None:
        app, request, name = self.app, call.request, self.function
        limit = app.limits.max_body_bytes
        length = request.header("content-length")
        if length is not None and int(length) > limit:
            await self._answer(call, 413, f"request body over the {limit} byte limit", close=True)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout  # from arrival at the dispatch, the slot's wait included
        ctx_deadline = time.monotonic() + self.timeout
        pool = app.pool
        if not await self._take_slot(call, loop):
            return
        exchange = _Exchange(call.receive, call.send, limit, call.request_id)
        ctx = app._context(name, call.request_id, ctx_deadline)
        http_request = HttpRequest(
            request.method, request.path, path_params=call.params, query=request.query_string,
            headers=Headers.of_pairs(request.headers), client_ip=request.client_ip, raw=request,
        )
        scope = asgi_scope(http_request, ctx, self.entry.state)
        task = asyncio.ensure_future(self.entry.app(scope, exchange.receive, exchange.send))
        task.add_done_callback(lambda _t: pool.release(loop))  # the slot stays taken until the app's call ends
        try:
            done, _ = await asyncio.wait((task,), timeout=max(0.0, deadline - loop.time()))
        except asyncio.CancelledError:  # uvicorn, at the drain deadline: the process is stopping
            task.cancel()
            if not exchange.started:
                await self._answer(call, 503, "the server stopped before the function finished", exchange=exchange)
                return
            exchange.finished = True
            raise
        exc: BaseException | None = None
        if done:  # an app task cancelled from within (an anyio scope gone wrong) counts as raising
            exc = asyncio.CancelledError() if task.cancelled() else task.exception()
        if exchange.over_limit and not exchange.started:
            await self._answer(call, 413, f"request body over the {limit} byte limit", close=True, exchange=exchange)
            return
        error: str | None = None
        if not done:
            task.cancel()
            if not exchange.started:
                await self._answer(call, 504, f"function timed out after {self.timeout:g} s", exchange=exchange)
                return
            error = f"timed out after {self.timeout:g} s"
        elif exc is not None and exchange.complete:
            ctx.logger.exception("the ASGI app raised after its response was complete; the answer stands", exc)
        elif exc is not None or not exchange.started:
            if exc is not None:
                ctx.logger.exception("the ASGI app raised; answered 500, the server keeps serving", exc)
            else:
                ctx.logger.error("the ASGI app returned without sending a response; answered 500")
            if not exchange.started:
                err = error_result(500)
                await self._answer(call, 500, "", exchange=exchange, result=(err.headers, err.body))
                return
            error = f"the app raised {type(exc).__name__}"
        elif not exchange.complete:
            error = "the app returned before its response was complete"
        exchange.finished = True
        extra: dict[str, object] = {"function": name, "request_id": call.request_id}
        if error is not None:
            extra["error"] = f"{error}; connection closed mid-response"
        app.log.access(request.method, request.route or request.path, exchange.status, exchange.length,
                       request.client_ip, (time.perf_counter() - request.started) * 1000, extra)

    async def _take_slot(self, call: HttpCall, loop: asyncio.AbstractEventLoop) -> bool:
        """A slot of the pool, now or after a wait within the timeout; False when answered (429, 504)."""
        pool = self.app.pool
        try:
            waiting = pool.acquire(loop)
        except QueueFull:
            await self.app.respond(call.send, call.request, *self.app.failure(self.function, call.request_id,
                                                                              QueueFull()),
                                   {"function": self.function, "request_id": call.request_id})
            return False
        if waiting is None:
            return True
        try:
            await asyncio.wait_for(asyncio.shield(waiting), self.timeout)
        except asyncio.CancelledError:  # uvicorn, at the drain deadline
            give_up(pool, loop, waiting)
            raise
        except asyncio.TimeoutError:
            give_up(pool, loop, waiting)
            await self._answer(call, 504, f"function timed out after {self.timeout:g} s")
            return False
        return True

    async def _answer(self, call: HttpCall, status: int, message: str, *, close: bool = False,
                      exchange: _Exchange | None = None,
                      result: tuple[list[tuple[str, str]], bytes] | None = None) -> None:
        """The runtime's own answer instead of the app's (413, 504, 500); the app's later messages are dropped."""
        if exchange is not None:
            exchange.sent = exchange.finished = True
        headers, body = result if result is not None else (
            [("Content-Type", "application/json")], json.dumps({"error": message}).encode())
        await self.app.respond(call.send, call.request, status, [*headers, ("X-Request-Id", call.request_id)], body,
                               {"function": self.function, "request_id": call.request_id},
                               close=close or status >= 503)
