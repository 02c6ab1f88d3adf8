"""The one call path every shim and the private server share: load the handler, run it, map the result.

`handle_http` never raises (an exception becomes a generic 500, the traceback goes to the structured
log); `handle_event` re-raises so the platform retries, and returns the ids a `BatchResult` names as
failed so the shim can map them to its platform's partial-failure mechanism.
"""

from __future__ import annotations

import time

from multicloud.runtime.events import BatchResult, Event
from multicloud.runtime.http import HttpResult, error_result, to_result

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from multicloud.runtime.context import Context
    from multicloud.runtime.http import HttpRequest

    Handler = Callable[[Event, Context], object]


class HandlerLoadError(ImportError):
    """The handler named in the spec cannot be imported. Carries what / fix / where like multicloud.errors."""

    def __init__(self, what: str, *, fix: str, where: str) -> None:
        self.what, self.fix, self.where = what, fix, where
        super().__init__(f"{where}: {what} Fix: {fix}")


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
        return target  # type: ignore[return-value]
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
        ctx.logger.exception("unhandled exception in handler", exc, method=request.method, path=request.path)
        return error_result(500)
    finally:
        ctx.close()


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
