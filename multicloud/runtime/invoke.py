"""The one call path every shim and the private server share: load the handler, run it, map the result.

`handle_http` never raises (an exception becomes a generic 500, the traceback goes to the structured
log); `handle_event` re-raises so the platform retries, and returns the ids a `BatchResult` names as
failed so the shim can map them to its platform's partial-failure mechanism.

A portable handler may be `async def handler(event, context)` (or an object whose `__call__` is `async
def`): `load_handler` sees it once, at load, and returns an `AsyncHandler`. The private runtime awaits its
`func` on the server's own event loop (the `*_async` twins below); every other caller (the clouds' shims,
`multicloud.runtime.testing`) calls the wrapper like a `def` handler, and it runs the coroutine to its end
on the process's one background loop (`asgi.event_loop`), cancelled at the context's deadline.
"""

from __future__ import annotations

import time

from multicloud.runtime.events import BatchResult, Event
from multicloud.runtime.http import HttpResult, error_result, to_result

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from multicloud.runtime.context import Context
    from multicloud.runtime.http import HttpRequest

    Handler = Callable[[Event, Context], object]
    AsyncFunc = Callable[[Event, Context], Awaitable[object]]


class HandlerLoadError(ImportError):
    """The handler named in the spec cannot be imported. Carries what / fix / where like multicloud.errors."""

    def __init__(self, what: str, *, fix: str, where: str) -> None:
        self.what, self.fix, self.where = what, fix, where
        super().__init__(f"{where}: {what} Fix: {fix}")


class HandlerTimeout(TimeoutError):
    """An async handler run by a shim passed its context's deadline and was cancelled (HTTP: a 504)."""


class BatchFailure(Exception):
    """Raised where a platform can only retry a whole batch (or a single message) and some failed."""

    def __init__(self, failed: list[str]) -> None:
        self.failed = failed
        super().__init__(f"{len(failed)} message(s) failed and will be retried: {', '.join(failed[:20])}")


STYLES = ("portable", "aws", "wsgi", "asgi")


def load_handler(spec: str, style: str = "portable", http_payload: str = "2.0",
                 routes: tuple[str, ...] = ()) -> Handler:
    """`"package.module.function"` (or `"module:function"`), imported from sys.path, as a portable handler.

    `style` says what the name points at: a portable `handler(event, context)` (returned as it is), a
    Lambda handler (`aws`; `http_payload` "2.0" or "1.0" picks its HTTP event, `routes` are the function's
    HTTP paths) or a WSGI / ASGI app. The last three come back wrapped by `multicloud.runtime.styles`, so
    every shim and the private server call them like any portable handler."""
    if style not in STYLES:
        raise HandlerLoadError(f"unknown handler style {style!r}", fix=f"use one of {', '.join(STYLES)}",
                               where="style")
    target = _import_target(spec, style)
    if style == "portable":
        return AsyncHandler(target) if is_async(target) else target  # type: ignore[arg-type,return-value]
    from multicloud.runtime.styles import adapt

    return adapt(target, spec, style, http_payload, routes)


def _import_target(spec: str, style: str) -> object:
    import importlib

    module_name, sep, attr = spec.rpartition(":") if ":" in spec else spec.rpartition(".")
    if not sep or not module_name or not attr:
        raise HandlerLoadError(
            f"handler {spec!r} is not of the form module.function",
            fix="set handler to e.g. app.handler (function `handler` in app.py)",
            where="handler",
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise HandlerLoadError(
                f"module {module_name!r} of handler {spec!r} was not found",
                fix=f"check the handler path; {module_name.replace('.', '/')}.py must be in the artifact",
                where="handler",
            ) from exc
        raise HandlerLoadError(
            f"importing {module_name!r} failed: module {exc.name!r} is missing",
            fix="add it to the function's requirements",
            where=module_name,
        ) from exc
    except Exception as exc:
        from multicloud.runtime.redact import mask

        raise HandlerLoadError(
            f"importing {module_name!r} raised {type(exc).__name__}: {mask(str(exc))}",
            fix="fix the error at import time of the handler module",
            where=module_name,
        ) from exc
    func = getattr(module, attr, None)
    if not callable(func):
        app = style in ("wsgi", "asgi")
        example = {"wsgi": f"{attr} = Flask(__name__)", "asgi": f"{attr} = FastAPI()"}.get(
            style, f"def {attr}(event, context)")
        raise HandlerLoadError(
            f"module {module_name!r} has no {'app' if app else 'function'} {attr!r}",
            fix=f"define `{example}` in {module_name.replace('.', '/')}.py",
            where=spec,
        )
    return func


def is_async(target: object) -> bool:
    """An `async def` function (or a partial of one), or an object whose `__call__` is `async def`."""
    import inspect

    if not callable(target):
        return False
    return inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(type(target).__call__)


class AsyncHandler:
    """An `async def` portable handler. The private runtime awaits `func` on its own loop (server_app);
    called like a `def` handler (the shims, the test helpers), it runs the coroutine on the process's one
    background loop and waits for it: a client session or connection pool the handler keeps in a global
    is created on that loop and is still usable by the next invocation (as on a warm Lambda container),
    and several platform threads at once (functions-framework, Azure's worker) share it safely.

    The coroutine is cancelled at the context's deadline (where the platform gives one) and the call raises
    HandlerTimeout (`handle_http` answers 504). A SystemExit or KeyboardInterrupt the handler raises comes
    back to the calling thread, as a `def` handler's would: it must not stop the shared loop."""

    __slots__ = ("func",)

    def __init__(self, func: AsyncFunc) -> None:
        self.func = func

    def __call__(self, event: Event, ctx: Context) -> object:
        return run_to_end(self.func(event, ctx), ctx)

    def __repr__(self) -> str:
        return f"AsyncHandler({self.func!r})"


def run_to_end(coro: Awaitable[object], ctx: object) -> object:
    """Run `coro` on the background loop from a thread that is not that loop's; cancelled at `ctx`'s deadline."""
    import asyncio
    import concurrent.futures

    from multicloud.runtime.asgi import event_loop

    loop = event_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        raise RuntimeError("an async handler called synchronously from the background loop itself; await its "
                           "`func` there instead")
    future = asyncio.run_coroutine_threadsafe(_contained(coro), loop)
    remaining = getattr(ctx, "remaining_time_ms", lambda: None)()
    try:
        raised, value = future.result(None if remaining is None else remaining / 1000)
    except concurrent.futures.TimeoutError:
        future.cancel()  # cancels the task on the loop: the handler stops at its next await
        raise HandlerTimeout(f"the async handler did not finish within its time limit ({remaining} ms left "
                             "when it started); it was cancelled") from None
    if raised:
        raise value  # type: ignore[misc]
    return value


async def _contained(coro: Awaitable[object]) -> tuple[bool, object]:
    """(raised, value or exception): a BaseException raised inside a task on the loop would stop the loop
    itself (asyncio re-raises SystemExit and KeyboardInterrupt out of `run_forever`)."""
    import asyncio

    try:
        return False, await coro
    except asyncio.CancelledError:
        raise
    except BaseException as exc:  # noqa: BLE001 - handed back to the calling thread, raised there
        return True, exc


_second: tuple[int, str] = (-1, "")  # the last whole second formatted; one tuple, so threads see a pair


def rfc3339(seconds: float | None = None) -> str:
    """UTC time as `2026-11-22T10:00:00.123Z` (strftime runs once per second, not per call)."""
    global _second
    micros = round((time.time() if seconds is None else seconds) * 1_000_000)
    whole, millis = micros // 1_000_000, micros // 1000 % 1000
    cached = _second
    if whole != cached[0]:
        cached = _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{cached[1]}.{str(1000 + millis)[1:]}Z"  # zero-padded without a format spec (a third of the cost)


def http_event(request: HttpRequest, ctx: Context, *, time: str | None = None) -> Event:
    return Event(
        "http",
        id=ctx.request_id,
        source=f"/{ctx.target}/{ctx.function_name}",
        subject=request.path,
        time=time or rfc3339(),
        datacontenttype=request.headers.get("content-type"),
        data=request.body,
        http=request,
    )


def handle_http(handler: Handler, request: HttpRequest, ctx: Context) -> HttpResult:
    """Run an HTTP handler. Never raises: an exception is a generic 500 plus a logged traceback."""
    try:
        return to_result(handler(http_event(request, ctx), ctx))
    except Exception as exc:
        return _http_failed(exc, request, ctx)
    finally:
        ctx.close()


async def handle_http_async(handler: AsyncFunc, request: HttpRequest, ctx: Context) -> HttpResult:
    """`handle_http` for an async handler, awaited on the running loop (the private runtime)."""
    try:
        return to_result(await handler(http_event(request, ctx), ctx))
    except Exception as exc:
        return _http_failed(exc, request, ctx)
    finally:
        ctx.close()


def _http_failed(exc: Exception, request: HttpRequest, ctx: Context) -> HttpResult:
    if isinstance(exc, HandlerTimeout):
        ctx.logger.error(str(exc), method=request.method, path=request.path)
        return error_result(504, "function timed out")
    ctx.logger.exception("unhandled exception in handler", exc, method=request.method, path=request.path)
    return error_result(500)


def handle_event(handler: Handler, event: Event, ctx: Context) -> list[str]:
    """Run an event handler; returns failed message ids (from `BatchResult`). Exceptions propagate."""
    try:
        result = handler(event, ctx)
    except Exception as exc:
        ctx.logger.exception("handler failed; the platform will retry", exc, event_id=event.id,
                             event_type=event.type)
        raise
    finally:
        ctx.close()
    if not isinstance(result, BatchResult) or not result.failed:
        return []
    if event.kind not in ("queue", "stream"):
        raise BatchFailure(result.failed)
    known = {m.id for m in event.messages}
    unknown = [i for i in result.failed if i not in known]
    if unknown:
        # naming a message that was not in the batch is a bug; retrying everything is the safe answer
        raise ValueError(f"BatchResult names ids that are not in this batch: {', '.join(unknown[:5])}")
    ctx.logger.warning("partial batch failure", failed=result.failed, batch_size=len(known))
    return result.failed


def handle_direct(handler: Handler, event: Event, ctx: Context) -> object:
    """A direct invocation: the handler's return value goes back to the caller as is."""
    try:
        return handler(event, ctx)
    except Exception as exc:
        ctx.logger.exception("handler failed", exc, event_id=event.id)
        raise
    finally:
        ctx.close()


async def settled(handler: AsyncFunc, event: Event, ctx: Context) -> Handler:
    """Await an async handler on the running loop (the private runtime), and return a `def` handler that
    returns what it returned or raises what it raised: `handle_event` and `handle_direct` then map, log and
    count it exactly as a `def` handler's outcome. A cancellation (the call's deadline) is not an outcome."""
    import asyncio

    try:
        value = await handler(event, ctx)
    except asyncio.CancelledError:
        raise
    except BaseException as exc:  # noqa: BLE001 - raised again where a def handler's would be
        failure = exc

        def again(_event: Event, _ctx: Context) -> object:
            raise failure

        return again
    return lambda _event, _ctx: value
