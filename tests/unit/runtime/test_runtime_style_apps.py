"""The `wsgi` and `asgi` adapters against the rules of PEP 3333 and the ASGI spec, with hand-written apps for
the corners (write(), close(), exc_info, lifespan failures, late exceptions) and Starlette for lifespan."""

from __future__ import annotations

import sys

import pytest

from multicloud.runtime.asgi import AsgiApp
from multicloud.runtime.context import Context
from multicloud.runtime.events import Event, Message
from multicloud.runtime.http import HttpRequest
from multicloud.runtime.invoke import HandlerLoadError, handle_event, handle_http, load_handler
from multicloud.runtime.wsgi import WsgiApp, environ


def ctx(target: str = "local") -> Context:
    return Context("web", "req-1", target, timeout_ms=5000)


def req(**kw: object) -> HttpRequest:
    base: dict[str, object] = {"headers": [("Host", "shop.example.com:8443"), ("X-Forwarded-Proto", "https"),
                                           ("Cookie", "a=1"), ("Cookie", "b=2"), ("Accept", "text/html"),
                                           ("Accept", "application/json"), ("X_Spoofed", "1")]}
    base.update(kw)
    return HttpRequest(str(base.pop("method", "GET")), str(base.pop("path", "/caf%C3%A9/x")), **base)  # type: ignore[arg-type]


# ---- WSGI ----------------------------------------------------------------------------------------------


def test_the_environ_follows_pep_3333() -> None:
    env = environ(req(query="q=a%20b", body=b"hello", headers=[("Content-Type", "text/plain"), ("Host", "h")]), ctx())
    assert (env["REQUEST_METHOD"], env["QUERY_STRING"], env["CONTENT_TYPE"], env["CONTENT_LENGTH"]) == \
        ("GET", "q=a%20b", "text/plain", "5")
    assert env["PATH_INFO"] == "/café/x".encode().decode("latin-1")  # bytes as latin-1 text
    assert env["wsgi.input"].read() == b"hello" and (env["SERVER_NAME"], env["SERVER_PORT"]) == ("h", "80")
    full = environ(req(), ctx("aws"))
    assert (full["HTTP_COOKIE"], full["HTTP_ACCEPT"]) == ("a=1; b=2", "text/html, application/json")
    assert (full["wsgi.url_scheme"], full["SERVER_NAME"], full["SERVER_PORT"]) == ("https", "shop.example.com", "8443")
    assert not any("SPOOFED" in k for k in full)  # a header with an underscore could pass for another one
    assert full["multicloud.context"].function_name == "web"


def test_write_iterable_and_close_are_honoured() -> None:
    closed: list[bool] = []

    class Body:
        def __iter__(self):
            yield b"b"
            yield b""
            yield b"c"

        def close(self) -> None:
            closed.append(True)

    def app(env, start_response):
        write = start_response("207 Multi-Status", [("Set-Cookie", "s=1"), ("X-A", "1"), ("Set-Cookie", "t=2")])
        write(b"a")
        return Body()

    result = handle_http(WsgiApp(app), req(), ctx())
    assert (result.status, result.body, result.cookies, result.headers) == (207, b"abc", ["s=1", "t=2"], [("X-A", "1")])
    assert closed == [True]


def test_exc_info_replaces_the_answer_until_body_bytes_are_out() -> None:
    def app(env, start_response):
        start_response("200 OK", [("X-Early", "1")])
        try:
            raise KeyError("late")
        except KeyError:
            start_response("500 Internal Server Error", [("X-Late", "1")], sys.exc_info())
        return [b"oops"]

    result = handle_http(WsgiApp(app), req(), ctx())
    assert (result.status, result.headers, result.body) == (500, [("X-Late", "1")], b"oops")

    def too_late(env, start_response):
        start_response("200 OK", [])(b"partial")
        try:
            raise KeyError("late")
        except KeyError:
            start_response("500 Internal Server Error", [], sys.exc_info())
        return []

    late = handle_http(WsgiApp(too_late), req(), ctx())
    assert late.status == 500 and b"partial" not in late.body  # re-raised: the generic 500


def test_a_wsgi_app_cannot_take_a_queue_event() -> None:
    batch = Event("queue", id="1", source="/q", messages=[Message("m", b"x")])
    with pytest.raises(TypeError, match="WSGI app serves HTTP"):
        handle_event(WsgiApp(lambda e, s: []), batch, ctx())


# ---- ASGI ----------------------------------------------------------------------------------------------


class Recorder:
    """A bare ASGI app: records its scopes and lifespan messages; `mode` picks a behaviour."""

    def __init__(self, mode: str = "ok") -> None:
        self.mode = mode
        self.scopes: list[dict] = []
        self.lifespan: list[str] = []

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            if self.mode == "no-lifespan":
                raise RuntimeError("lifespan not supported")
            while True:
                message = await receive()
                self.lifespan.append(message["type"])
                if message["type"] == "lifespan.startup":
                    if self.mode == "startup-fails":
                        await send({"type": "lifespan.startup.failed", "message": "no database"})
                        return
                    scope["state"]["pool"] = "ready"
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        self.scopes.append(scope)
        body = await receive()
        if self.mode == "raise-early":
            raise ValueError("before any answer")
        await send({"type": "http.response.start", "status": 202,
                    "headers": [(b"content-type", b"text/plain"), (b"set-cookie", b"s=1")]})
        await send({"type": "http.response.body", "body": b"got ", "more_body": True})
        await send({"type": "http.response.body", "body": body["body"]})
        assert (await receive())["type"] == "http.disconnect"  # after the answer: the client is gone
        if self.mode == "raise-late":
            raise ValueError("after the answer")


def test_a_request_through_the_asgi_adapter() -> None:
    app = Recorder()
    adapter = AsgiApp(app)
    result = handle_http(adapter, req(method="POST", body=b"\x00\x01", query="x=1"), ctx())
    assert (result.status, result.body, result.cookies, result.headers) == \
        (202, b"got \x00\x01", ["s=1"], [("content-type", "text/plain")])
    scope = app.scopes[0]
    assert (scope["path"], scope["raw_path"], scope["query_string"], scope["scheme"]) == \
        ("/café/x", b"/caf%C3%A9/x", b"x=1", "https")
    assert (b"cookie", b"a=1") in scope["headers"] and scope["server"] == ("shop.example.com", 8443)
    assert scope["state"] == {"pool": "ready"} and app.lifespan == ["lifespan.startup"]
    adapter._lifespan.shutdown()  # what atexit does when the process ends
    assert app.lifespan == ["lifespan.startup", "lifespan.shutdown"]


def test_lifespan_failure_fails_the_load_and_no_lifespan_is_fine() -> None:
    with pytest.raises(HandlerLoadError, match="no database"):
        AsgiApp(Recorder("startup-fails"))
    app = Recorder("no-lifespan")
    assert handle_http(AsgiApp(app), req(), ctx()).status == 202


def test_exceptions_before_and_after_the_answer(capsys: pytest.CaptureFixture[str]) -> None:
    assert handle_http(AsgiApp(Recorder("raise-early")), req(), ctx()).status == 500  # generic
    late = handle_http(AsgiApp(Recorder("raise-late")), req(body=b"x"), ctx())
    assert (late.status, late.body) == (202, b"got x")  # the answer was complete: it stands
    assert "after its response was complete" in capsys.readouterr().err


def test_styles_are_checked_at_load(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "apps_mod.py").write_text(
        "from flask import Flask\nfrom starlette.applications import Starlette\n"
        "flask_app = Flask(__name__)\nstarlette_app = Starlette()\nnot_an_app = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert isinstance(load_handler("apps_mod.flask_app", style="wsgi"), WsgiApp)
    assert isinstance(load_handler("apps_mod.starlette_app", style="asgi"), AsgiApp)
    with pytest.raises(HandlerLoadError, match="style: asgi"):
        load_handler("apps_mod.starlette_app", style="wsgi")
    with pytest.raises(HandlerLoadError, match="style: wsgi"):
        load_handler("apps_mod.flask_app", style="asgi")
    with pytest.raises(HandlerLoadError, match="no app 'not_an_app'"):
        load_handler("apps_mod.not_an_app", style="wsgi")
    with pytest.raises(HandlerLoadError, match="unknown handler style"):
        load_handler("apps_mod.flask_app", style="lambda")
