"""The `asgi` handler style: an ASGI 3 app (FastAPI, Starlette, Django's ASGI handler) behind HTTP triggers.

One event loop per process runs in a daemon thread; `AsgiApp` hands each request to it and waits, so
the app's async code, its lifespan state and its connection pools live on one loop however the platform
calls the function (Azure and functions-framework from worker threads, Lambda one invocation at a time).
The private runtime does not use this adapter: it serves ASGI apps natively, streaming (server_asgi).

Lifespan: `lifespan.startup` runs when the function loads (cold start) and a `startup.failed` makes the
load fail; an app that does not speak lifespan (it raises on the lifespan scope) is served without it,
as uvicorn's `lifespan="auto"` does. `lifespan.shutdown` is sent from `atexit`, so it runs when the
process ends normally (the private runtime's drain, a worker restart), not when a platform freezes or
kills the process (Lambda). State the app puts in `scope["state"]` at startup is copied into every
request's scope.

The response is buffered (all `http.response.body` messages, then one answer), like the WSGI adapter.
After the answer is complete, `receive()` reports `http.disconnect`. An exception after a complete
response (Starlette's error middleware sends its 500, then re-raises) is logged and the response stands.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from urllib.parse import quote_from_bytes

from multicloud.runtime.apps import path_bytes, scheme, server, split_cookies
from multicloud.runtime.http import HttpResult

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from multicloud.runtime.context import Context
    from multicloud.runtime.events import Event
    from multicloud.runtime.http import HttpRequest

    Message = dict[str, object]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]
    AsgiCallable = Callable[[dict[str, object], Receive, Send], Awaitable[None]]

ASGI = {"version": "3.0", "spec_version": "2.3"}
STARTUP_TIMEOUT = 60.0
SHUTDOWN_TIMEOUT = 5.0

_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def event_loop() -> asyncio.AbstractEventLoop:
    """The process's one loop for ASGI apps and `async def` portable handlers (invoke.AsyncHandler) on the
    clouds' shims, running in a daemon thread (started on first use)."""
    global _loop
    with _loop_lock:
        if _loop is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="asgi-loop", daemon=True).start()
            _loop = loop
        return _loop


def _latin1(text: str) -> bytes:
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def scope(request: HttpRequest, ctx: Context, state: dict[str, object]) -> dict[str, object]:
    url_scheme = scheme(request, ctx)
    raw = path_bytes(request.path)
    return {
        "type": "http", "asgi": dict(ASGI), "http_version": "1.1", "method": request.method,
        "scheme": url_scheme, "path": raw.decode("utf-8", "replace"),
        "raw_path": quote_from_bytes(raw, safe="/!$&'()*+,;=:@-._~").encode("ascii"),
        "query_string": _latin1(request.query_string), "root_path": "",
        "headers": [(name.lower().encode("latin-1"), _latin1(value)) for name, value in request.headers.items()],
        "client": (request.client_ip or "127.0.0.1", 0), "server": server(request, url_scheme),
        "state": dict(state), "extensions": {},
        "multicloud.context": ctx, "multicloud.request": request,
    }


class _Exchange:
    """One request: feeds the body, collects the response, then reports the client gone."""

    def __init__(self, body: bytes) -> None:
        self.body: bytes | None = body
        self.status: int | None = None
        self.headers: list[tuple[str, str]] = []
        self.chunks: list[bytes] = []
        self.complete = asyncio.Event()

    async def receive(self) -> Message:
        if self.body is not None:
            body, self.body = self.body, None
            return {"type": "http.request", "body": body, "more_body": False}
        await self.complete.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        kind = message.get("type")
        if kind == "http.response.start":
            if self.status is not None:
                raise RuntimeError("http.response.start sent twice")
            self.status = int(message["status"])  # type: ignore[call-overload]
            self.headers = [(bytes(k).decode("latin-1"), bytes(v).decode("latin-1"))
                            for k, v in message.get("headers") or ()]  # type: ignore[attr-defined]
        elif kind == "http.response.body":
            if self.status is None:
                raise RuntimeError("http.response.body sent before http.response.start")
            self.chunks.append(bytes(message.get("body") or b""))  # type: ignore[call-overload]
            if not message.get("more_body"):
                self.complete.set()


class AsgiApp:
    """An ASGI 3 app as a portable HTTP handler."""

    def __init__(self, app: AsgiCallable, name: str = "app") -> None:
        self.app = app
        self.name = name
        self.state: dict[str, object] = {}
        self.loop = event_loop()
        self._lifespan: _Lifespan | None = _Lifespan(app, self.state, self.loop)
        if not self._lifespan.startup():
            self._lifespan = None
        else:
            import atexit

            atexit.register(self._lifespan.shutdown)

    async def _serve(self, scope_: dict[str, object], body: bytes, ctx: Context) -> HttpResult:
        exchange = _Exchange(body)
        try:
            await self.app(scope_, exchange.receive, exchange.send)
        except Exception as exc:
            if not exchange.complete.is_set():
                raise
            ctx.logger.exception("the ASGI app raised after its response was complete", exc)
        if exchange.status is None:
            raise RuntimeError("the ASGI app returned without sending a response")
        exchange.complete.set()
        pairs, cookies = split_cookies(exchange.headers)
        return HttpResult(exchange.status, pairs, b"".join(exchange.chunks), cookies)

    def __call__(self, event: Event, ctx: Context) -> HttpResult:
        if event.kind != "http":
            raise TypeError(f"an ASGI app serves HTTP requests; it cannot take a {event.kind} event")
        request = event.http
        future = asyncio.run_coroutine_threadsafe(self._serve(scope(request, ctx, self.state), request.body, ctx),
                                                  self.loop)
        remaining = ctx.remaining_time_ms()
        try:
            return future.result(None if remaining is None else remaining / 1000)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise


class _Lifespan:
    """The lifespan protocol, spoken once at load (startup) and once at exit (shutdown)."""

    def __init__(self, app: AsgiCallable, state: dict[str, object], loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.state = state
        self.loop = loop
        self.inbox: asyncio.Queue[Message] | None = None
        self.sent: dict[str, str] = {}  # "startup" / "shutdown" -> "complete" / "failed: ..."
        self.answered = {"startup": threading.Event(), "shutdown": threading.Event()}

    async def _run(self) -> None:
        self.inbox = asyncio.Queue()
        await self.inbox.put({"type": "lifespan.startup"})
        scope_: dict[str, object] = {"type": "lifespan", "asgi": dict(ASGI), "state": self.state}

        async def receive() -> Message:
            assert self.inbox is not None
            return await self.inbox.get()

        async def send(message: Message) -> None:
            _, phase, outcome = (str(message.get("type", "")).split(".") + ["", ""])[:3]
            if phase in self.answered:
                self.sent[phase] = outcome if outcome == "complete" else f"failed: {message.get('message') or ''}"
                self.answered[phase].set()

        try:
            await self.app(scope_, receive, send)
        finally:
            for answered in self.answered.values():
                answered.set()  # the app returned or raised: nobody will answer any more

    def startup(self) -> bool:
        """True when the app completed startup; False when it does not speak lifespan."""
        from multicloud.runtime.invoke import HandlerLoadError

        future = asyncio.run_coroutine_threadsafe(self._run(), self.loop)
        if not self.answered["startup"].wait(STARTUP_TIMEOUT):
            future.cancel()
            raise HandlerLoadError("the ASGI app's lifespan startup did not finish in time",
                                   fix="make the startup handlers finish within a minute", where="lifespan")
        outcome = self.sent.get("startup")
        if outcome == "complete":
            return True
        if outcome is not None:
            raise HandlerLoadError(f"the ASGI app's lifespan startup {outcome}",
                                   fix="fix the app's startup (lifespan) code", where="lifespan")
        return False  # returned or raised on the lifespan scope without answering: lifespan unsupported

    def shutdown(self) -> None:
        inbox = self.inbox
        if inbox is None or self.loop.is_closed() or self.answered["shutdown"].is_set():
            return
        message: Message = {"type": "lifespan.shutdown"}
        self.loop.call_soon_threadsafe(inbox.put_nowait, message)
        self.answered["shutdown"].wait(SHUTDOWN_TIMEOUT)
