"""The `wsgi` handler style: a PEP 3333 app (Flask, Django...) behind any of the function's HTTP triggers.

`WsgiApp(app)` is a portable handler: it turns the portable `HttpRequest` into a WSGI environ, calls the
app and collects the status, headers and body into an `HttpResult`. The response is buffered (what
`write()` and the returned iterable give, in order; `close()` is always called), because no target
streams a function's answer through this path: Lambda's buffered invoke, Azure's `HttpResponse` and the
private runtime all send one body. Extra environ keys: `multicloud.context` (the portable `Context`) and
`multicloud.request` (the `HttpRequest`, whose `raw` is the platform's own request or Lambda event).
"""

from __future__ import annotations

import io
import sys

from multicloud.runtime.apps import path_bytes, scheme, server, split_cookies
from multicloud.runtime.http import HttpResult

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from multicloud.runtime.context import Context
    from multicloud.runtime.events import Event
    from multicloud.runtime.http import HttpRequest

    WsgiCallable = Callable[[dict[str, object], Callable[..., object]], Iterable[bytes]]


def environ(request: HttpRequest, ctx: Context) -> dict[str, object]:
    url_scheme = scheme(request, ctx)
    host, port = server(request, url_scheme)
    env: dict[str, object] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path_bytes(request.path).decode("latin-1"),  # PEP 3333: bytes as latin-1 text
        "QUERY_STRING": request.query_string,
        "SERVER_NAME": host,
        "SERVER_PORT": str(port),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": request.client_ip or "127.0.0.1",
        "CONTENT_LENGTH": str(len(request.body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": url_scheme,
        "wsgi.input": io.BytesIO(request.body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "multicloud.context": ctx,
        "multicloud.request": request,
    }
    content_type = request.headers.get("content-type")
    if content_type:
        env["CONTENT_TYPE"] = content_type
    for name in request.headers:
        if "_" in name:
            continue  # X_Forwarded_For would pass for X-Forwarded-For: dropped, as gunicorn does
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            continue
        values = request.headers.get_all(name)
        env[f"HTTP_{key}"] = ("; " if key == "COOKIE" else ", ").join(values)
    return env


class WsgiApp:
    """A WSGI app as a portable HTTP handler."""

    __slots__ = ("app",)

    def __init__(self, app: WsgiCallable) -> None:
        self.app = app

    def __call__(self, event: Event, ctx: Context) -> HttpResult:
        if event.kind != "http":
            raise TypeError(f"a WSGI app serves HTTP requests; it cannot take a {event.kind} event")
        chunks: list[bytes] = []
        started: list[object] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> object:
            if started and exc_info is None:
                raise RuntimeError("start_response called twice without exc_info")
            if exc_info is not None and chunks:  # PEP 3333: too late once body bytes are out
                raise exc_info[1].with_traceback(exc_info[2])  # type: ignore[index]
            started[:] = [status, headers]  # buffered: nothing was sent, an error page replaces it all
            return chunks.append

        result = self.app(environ(event.http, ctx), start_response)
        try:
            for chunk in result:
                if chunk:
                    chunks.append(bytes(chunk))
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if not started:
            raise RuntimeError("the WSGI app returned without calling start_response")
        status, headers = started
        pairs, cookies = split_cookies([(str(k), str(v)) for k, v in headers])  # type: ignore[attr-defined]
        return HttpResult(int(str(status).split(" ", 1)[0]), pairs, b"".join(chunks), cookies)
