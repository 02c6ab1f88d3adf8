"""Who may see the dashboard and who may act through it.

* Loopback (the default): only this machine reaches the port, so no token. The Host header must name a
  loopback address, so a web page elsewhere cannot reach the dashboard by pointing a name of its own at
  127.0.0.1 (DNS rebinding).
* Any other address requires a token, generated per run and printed once. The browser presents it once
  as `?token=` (answered with an HttpOnly, SameSite=Strict cookie and a redirect that drops it from the
  URL); scripts send `Authorization: Bearer <token>`. Compared in constant time (`hmac.compare_digest`).
* Actions are POST only and carry the page's CSRF token in the `X-CSRF-Token` header (htmx adds it to
  every request from the page); a POST without it, or sent by another site (`Sec-Fetch-Site`, `Origin`),
  is refused. The token is random per run and only readable by someone who can read the pages, and a
  custom header cannot be sent cross-site without a CORS preflight, which the dashboard never grants.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]
COOKIE = "multicloud_dashboard"
CSRF_HEADER = "x-csrf-token"
LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    name = host.strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode())


class Guard:
    """ASGI middleware: the token (when required), the Host check (loopback) and CSRF on every POST."""

    def __init__(self, app: ASGIApp, *, token: str | None, csrf: str) -> None:
        self.app = app
        self.token = token
        self.csrf = csrf

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        refused = self.refusal(request)
        if refused is not None:
            await refused(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def refusal(self, request: Request) -> Response | None:
        if self.token is None:
            host = urlsplit(f"//{request.headers.get('host', '')}").hostname or ""
            if not is_loopback(host):
                return PlainTextResponse("refused: this dashboard answers on a loopback address only", 421)
        else:
            bearer = request.headers.get("authorization", "")
            presented = bearer[7:].strip() if bearer[:7].lower() == "bearer " else request.cookies.get(COOKIE)
            if not same(presented, self.token):
                in_query = request.query_params.get("token")
                if request.method == "GET" and same(in_query, self.token):
                    return self.welcome(request)
                return PlainTextResponse("refused: a token is required (the one `multicloud dashboard` printed "
                                         "when it started)", 401, headers={"WWW-Authenticate": "Bearer"})
        if request.method not in ("GET", "HEAD"):
            if request.method != "POST":
                return PlainTextResponse("refused: actions are POST requests", 405)
            site = request.headers.get("sec-fetch-site")
            if site is not None and site not in ("same-origin", "none"):
                return PlainTextResponse("refused: cross-site request", 403)
            origin = request.headers.get("origin")
            if origin and urlsplit(origin).netloc != request.headers.get("host"):
                return PlainTextResponse("refused: cross-origin request", 403)
            if not same(request.headers.get(CSRF_HEADER), self.csrf):
                return PlainTextResponse("refused: missing or wrong CSRF token (reload the page)", 403)
        return None

    def welcome(self, request: Request) -> Response:
        """The token came in the URL: keep it in a cookie and send the browser to the URL without it."""
        query = urlencode([(k, v) for k, v in parse_qsl(request.url.query, keep_blank_values=True) if k != "token"])
        response = RedirectResponse(request.url.path + (f"?{query}" if query else ""), 303)
        assert self.token is not None
        response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict", path="/",
                            secure=request.url.scheme == "https")
        return response
