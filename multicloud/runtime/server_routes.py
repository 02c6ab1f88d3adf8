"""HTTP route table of the private runtime: spec paths (with `{param}` / `{param+}`) and methods -> function.

Static paths are a dict lookup; parameterised ones are tried in spec order. A path that exists with
another method answers 405 with `Allow`, an unknown one 404.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from multicloud.runtime.server_config import Route

PARAM_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(\+?)\}")


class Match:
    __slots__ = ("route", "params", "allowed")

    def __init__(self, route: Route | None, params: dict[str, str], allowed: tuple[str, ...] = ()) -> None:
        self.route = route
        self.params = params
        self.allowed = allowed  # non-empty when the path exists but the method does not


def _compile(path: str) -> re.Pattern[str]:
    out, pos = [], 0
    for m in PARAM_RE.finditer(path):
        out.append(re.escape(path[pos:m.start()]))
        out.append(f"(?P<{m.group(1)}>.+)" if m.group(2) else f"(?P<{m.group(1)}>[^/]+)")
        pos = m.end()
    out.append(re.escape(path[pos:]))
    body = "".join(out)
    if body.endswith("/") and len(body) > 1:
        body = body[:-1]
    return re.compile(body + "/?" if body else "/")


class RouteTable:
    def __init__(self, routes: tuple[Route, ...]) -> None:
        self._static: dict[str, list[Route]] = {}
        self._dynamic: list[tuple[re.Pattern[str], Route]] = []
        for route in routes:
            if PARAM_RE.search(route.path):
                self._dynamic.append((_compile(route.path), route))
            else:
                self._static.setdefault(self._norm(route.path), []).append(route)

    @staticmethod
    def _norm(path: str) -> str:
        return path.rstrip("/") or "/"

    def match(self, method: str, path: str) -> Match:
        """`path` is the raw (still percent-encoded) request path; parameter values come back decoded."""
        allowed: list[str] = []
        lookup = "GET" if method == "HEAD" else method
        for route in self._static.get(self._norm(path), ()):
            if method in route.methods or lookup in route.methods:
                return Match(route, {})
            allowed.extend(route.methods)
        for pattern, route in self._dynamic:
            m = pattern.fullmatch(path)
            if m is None:
                continue
            if method in route.methods or lookup in route.methods:
                return Match(route, {k: unquote(v) for k, v in m.groupdict().items()})
            allowed.extend(route.methods)
        return Match(None, {}, tuple(dict.fromkeys(allowed)))
