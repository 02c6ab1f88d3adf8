"""Handler styles other than portable: each becomes a portable handler `(Event, Context) -> object`.

`multicloud.runtime.invoke.load_handler(spec, style=...)` imports the name and hands it here, so every
entry shim (Lambda, Azure, GCP) and the private runtime serve Lambda handlers and WSGI/ASGI apps through
the one call path they already have: nothing else in them knows about styles.

* `aws` -> `lambda_style.AwsStyle` (Lambda events in, Lambda answers out);
* `wsgi` -> `wsgi.WsgiApp` (Flask, Django, any PEP 3333 app);
* `asgi` -> `asgi.AsgiApp` (FastAPI, Starlette, Django's ASGI handler: ASGI 3, lifespan when supported).

A WSGI app named with `style: asgi` (or the other way round) fails at load with the fix, instead of
answering every request with a 500.
"""

from __future__ import annotations

from multicloud.runtime.invoke import HandlerLoadError, is_async

TYPE_CHECKING = False
if TYPE_CHECKING:
    from multicloud.runtime.invoke import Handler


def _asgi_like(app: object) -> bool | None:
    """True: an ASGI 3 app; False: a WSGI app; None: cannot tell (then the spec's word stands)."""
    import inspect

    if not callable(app):
        return None
    if is_async(app):
        return True
    try:
        params = [p for p in inspect.signature(app).parameters.values()  # bound: `self` is not counted
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return None
    return {2: False, 3: True}.get(len(params))


def adapt(target: object, spec: str, style: str, http_payload: str, routes: tuple[str, ...]) -> Handler:
    if style == "aws":
        from multicloud.runtime.lambda_style import AwsStyle

        refuse_async_lambda(target, spec)
        if http_payload not in ("2.0", "1.0"):
            raise HandlerLoadError(f"http_payload {http_payload!r} is not 2.0 or 1.0",
                                   fix="set http_payload to 2.0 (HTTP API, Function URL) or 1.0 (REST API)",
                                   where=spec)
        return AwsStyle(target, http_payload, routes)  # type: ignore[arg-type]
    check_kind(target, spec, style)
    if style == "wsgi":
        from multicloud.runtime.wsgi import WsgiApp

        return WsgiApp(target)  # type: ignore[arg-type]
    from multicloud.runtime.asgi import AsgiApp

    return AsgiApp(target, spec)  # type: ignore[arg-type]


def check_kind(target: object, spec: str, style: str) -> None:
    """A WSGI app named with `style: asgi` (or the other way round) fails at load, with the fix."""
    kind = _asgi_like(target)
    if style == "wsgi" and kind is True:
        raise HandlerLoadError(f"{spec} is an ASGI app (FastAPI, Starlette...), not a WSGI app",
                               fix="set `style: asgi` for this function", where=spec)
    if style == "asgi" and kind is False:
        raise HandlerLoadError(f"{spec} is a WSGI app (Flask, Django...), not an ASGI app",
                               fix="set `style: wsgi` for this function", where=spec)


def refuse_async_lambda(target: object, spec: str) -> None:
    """Lambda's Python runtime does not await an `async def` handler (it would answer the coroutine object):
    an aws-style handler must be `def`; an async one belongs in the portable style, which awaits it."""
    if is_async(target):
        raise HandlerLoadError(f"{spec} is `async def`, and a Lambda-style handler (`style: aws`) is called "
                               "without being awaited, as Lambda's own Python runtime calls it",
                               fix="drop `style: aws` and use the portable signature `async def handler(event, "
                                   "context)`, or make the handler a plain `def`", where=spec)
