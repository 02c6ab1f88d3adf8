"""The portable HTTP model: what a handler sees (`HttpRequest`) and what a shim sends back (`HttpResult`).

Every shim converts its platform's request into an `HttpRequest` and turns the handler's return value into
an `HttpResult` with `to_result`; the platform-specific encoding (base64 flags, multi-value headers,
cookie fields) stays in the shim. Stdlib only, and only cheap modules at import time.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    HeaderSource = Mapping[str, str] | Iterable[tuple[str, str]] | None

JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain; charset=utf-8"
BINARY_TYPE = "application/octet-stream"


class Headers:
    """Case-insensitive, multi-valued HTTP headers. `headers["x"]` is the first value; `get_all` all.

    The name index is built on first lookup: a handler that never reads a header does not pay for it.
    """

    __slots__ = ("_items", "_index")

    def __init__(self, items: HeaderSource = None) -> None:
        self._items: list[tuple[str, str]] = []
        self._index: dict[str, list[str]] | None = None
        if items is not None:
            pairs = items.items() if hasattr(items, "items") else items
            self._items = [(name, str(value)) for name, value in pairs]

    @classmethod
    def of_pairs(cls, pairs: list[tuple[str, str]]) -> Headers:
        """Headers over a list of (name, value) strings the caller hands over (not copied): a server's
        parsed request, built once per request."""
        headers = cls()
        headers._items = pairs
        return headers

    @property
    def _by_name(self) -> dict[str, list[str]]:
        index = self._index
        if index is None:
            index = self._index = {}
            for name, value in self._items:
                index.setdefault(name.lower(), []).append(value)
        return index

    def add(self, name: str, value: str) -> None:
        value = str(value)
        self._items.append((name, value))
        if self._index is not None:
            self._index.setdefault(name.lower(), []).append(value)

    def get(self, name: str, default: str | None = None) -> str | None:
        lname = name.lower()
        if self._index is None:  # one lookup on a few headers: scanning is cheaper than indexing
            for key, value in self._items:
                if key.lower() == lname:
                    return value
            return default
        values = self._index.get(lname)
        return values[0] if values else default

    def get_all(self, name: str) -> list[str]:
        return list(self._by_name.get(name.lower(), ()))

    def __getitem__(self, name: str) -> str:
        values = self._by_name.get(name.lower())
        if not values:
            raise KeyError(name)
        return values[0]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._by_name

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def keys(self) -> list[str]:
        """Lower-cased names, each once."""
        return list(self._by_name)

    def items(self) -> list[tuple[str, str]]:
        """Every (name, value) pair as received, repeated names included."""
        return list(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


def parse_cookies(header_values: Iterable[str]) -> dict[str, str]:
    """`Cookie:` header values (or API Gateway v2's `cookies` list) -> {name: value}; first one wins."""
    cookies: dict[str, str] = {}
    for header in header_values:
        for part in header.split(";"):
            name, sep, value = part.strip().partition("=")
            if sep and name and name not in cookies:
                cookies[name] = value.strip().strip('"')
    return cookies


class HttpRequest:
    """One HTTP request, the same on every cloud.

    `query` may be given parsed (`{name: [values]}`) or as the raw query string, and `cookies` as a
    dict, a list of `name=value` strings, or left out (then read from the Cookie header): both are
    parsed on first access, so a handler that never reads them does not pay for them.
    """

    __slots__ = ("method", "path", "path_params", "_query", "headers", "_cookies", "client_ip", "body", "raw")

    def __init__(
        self,
        method: str = "GET",
        path: str = "/",
        *,
        path_params: dict[str, str] | None = None,
        query: dict[str, list[str]] | str | None = None,
        headers: Headers | HeaderSource = None,
        cookies: dict[str, str] | list[str] | None = None,
        client_ip: str | None = None,
        body: bytes = b"",
        raw: object = None,
    ) -> None:
        self.method = method.upper()
        self.path = path or "/"
        self.path_params = dict(path_params) if path_params else {}
        self._query: dict[str, list[str]] | str = query if query is not None else {}
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self._cookies = cookies
        self.client_ip = client_ip
        self.body = body
        #: the platform's own request object or event, for the rare case the portable view is not enough
        self.raw = raw

    @property
    def query(self) -> dict[str, list[str]]:
        """Query parameters, each with every value it was given, percent-decoded."""
        if isinstance(self._query, str):
            self._query = parse_query(self._query)
        return self._query

    @query.setter
    def query(self, value: dict[str, list[str]]) -> None:
        self._query = value

    @property
    def query_string(self) -> str:
        """The query string as received (percent-encoded), for adapters that hand it on (WSGI, ASGI, Lambda).

        Shims that parsed it already give the parsed form; then the platform request (`raw`) is asked, and
        as a last resort the parsed parameters are encoded again."""
        if isinstance(self._query, str):
            return self._query
        given = getattr(self.raw, "query_string", None)
        if isinstance(given, (bytes, bytearray)):
            return bytes(given).decode("latin-1")
        if isinstance(given, str):
            return given
        from urllib.parse import urlencode

        return urlencode(self._query, doseq=True)

    @property
    def cookies(self) -> dict[str, str]:
        """Request cookies {name: value} (the first one wins when a name repeats)."""
        if not isinstance(self._cookies, dict):
            source = self._cookies if self._cookies is not None else self.headers.get_all("cookie")
            self._cookies = parse_cookies(source)
        return self._cookies

    @cookies.setter
    def cookies(self, value: dict[str, str]) -> None:
        self._cookies = value

    @property
    def text(self) -> str:
        """The body decoded with the charset of Content-Type (UTF-8 by default)."""
        charset = "utf-8"
        for param in (self.headers.get("content-type") or "").split(";")[1:]:
            key, _, value = param.strip().partition("=")
            if key.lower() == "charset" and value:
                charset = value.strip('"')
        try:
            return self.body.decode(charset)
        except LookupError:
            return self.body.decode("utf-8", "replace")

    def json(self) -> object:
        """The body parsed as JSON (`ValueError` when it is not JSON)."""
        import json

        return json.loads(self.text) if self.body else None

    def query_value(self, name: str, default: str | None = None) -> str | None:
        """The first value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else default

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")

    def __repr__(self) -> str:
        return f"HttpRequest({self.method} {self.path})"


class Response:
    """Full control over an HTTP response. `body` may be bytes, str, or anything JSON-serialisable.

    `headers` is a dict or a list of (name, value) pairs; `cookies` a list of Set-Cookie values
    (``"id=1; Path=/; HttpOnly"``) or a dict {name: value}.
    """

    __slots__ = ("status", "headers", "body", "cookies")

    def __init__(
        self,
        status: int = 200,
        headers: HeaderSource = None,
        body: object = None,
        cookies: list[str] | dict[str, str] | None = None,
    ) -> None:
        self.status = int(status)
        self.headers = headers
        self.body = body
        self.cookies = cookies

    def __repr__(self) -> str:
        return f"Response({self.status})"


class HttpResult:
    """What a shim encodes for its platform: plain data, no policy left."""

    __slots__ = ("status", "headers", "body", "cookies")

    def __init__(
        self, status: int, headers: list[tuple[str, str]], body: bytes, cookies: list[str] | None = None
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.cookies = cookies if cookies is not None else []

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None

    @property
    def is_text(self) -> bool:
        """Whether the body can travel as text (platforms that need base64 for binary ask this)."""
        return is_text_type(self.header("content-type"))

    def __repr__(self) -> str:
        return f"HttpResult({self.status}, {len(self.body)} bytes)"


def is_text_type(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return (
        media.startswith("text/")
        or media.endswith(("+json", "+xml"))
        or media in ("application/json", "application/xml", "application/javascript",
                     "application/x-www-form-urlencoded", "image/svg+xml")
    )


_json_encoder: list[Callable[[object, int], Iterable[str]]] = []  # made on first use (json pulls in re)


def _to_json(value: object) -> bytes:
    """Compact JSON, UTF-8. The C encoder is built once and reused (json.dumps builds one per call)."""
    if not _json_encoder:
        import json
        from json import encoder

        plain = json.JSONEncoder(ensure_ascii=False)
        make = getattr(encoder, "c_make_encoder", None)
        if make is not None:
            # no circular-reference markers: a cycle ends in RecursionError, which the caller turns into a 500
            _json_encoder.append(make(None, plain.default, encoder.encode_basestring, None, ":", ",", False, False,
                                      True))
        else:  # pragma: no cover - CPython always has the C encoder
            _json_encoder.append(lambda o, _level: [json.dumps(o, separators=(",", ":"), ensure_ascii=False)])
    return "".join(_json_encoder[0](value, 0)).encode()


def _encode_body(body: object) -> tuple[bytes, str | None]:
    if body is None:
        return b"", None
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body), BINARY_TYPE
    if isinstance(body, str):
        return body.encode(), TEXT_TYPE
    return _to_json(body), JSON_TYPE


def to_result(value: object) -> HttpResult:
    """A handler's return value -> HttpResult: dict/list JSON, str text, bytes binary, None 204.

    An `HttpResult` passes through as it is: the style adapters (aws, wsgi, asgi) build exact ones."""
    if type(value) is dict:  # the common case first: a handler returning JSON
        return HttpResult(200, [("Content-Type", JSON_TYPE)], _to_json(value))
    if isinstance(value, HttpResult):
        return value
    if isinstance(value, Response):
        body, default_type = _encode_body(value.body)
        source = value.headers
        pairs: list[tuple[str, str]] = []
        if source is not None:
            pairs = list(source.items() if hasattr(source, "items") else source)
        headers = [(str(k), str(v)) for k, v in pairs]
        cookies_in = value.cookies
        if isinstance(cookies_in, dict):
            cookies = [f"{k}={v}" for k, v in cookies_in.items()]
        else:
            cookies = [str(c) for c in cookies_in or ()]
        # a Set-Cookie given as a header is still a cookie: platforms carry cookies separately
        cookies += [v for k, v in headers if k.lower() == "set-cookie"]
        headers = [(k, v) for k, v in headers if k.lower() != "set-cookie"]
        if default_type and not any(k.lower() == "content-type" for k, _ in headers):
            headers.append(("Content-Type", default_type))
        return HttpResult(value.status, headers, body, cookies)
    if value is None:
        return HttpResult(204, [], b"")
    if isinstance(value, (dict, list, str, bytes, bytearray, memoryview)):
        body, content_type = _encode_body(value)
        return HttpResult(200, [("Content-Type", content_type or BINARY_TYPE)], body)
    raise TypeError(
        f"handler returned {type(value).__name__}; return a dict or list (JSON), str (text), "
        "bytes (binary), None (204) or multicloud.Response"
    )


def error_result(status: int = 500, message: str = "internal server error") -> HttpResult:
    """A generic error body: never a traceback or an exception message."""
    import json

    body = json.dumps({"error": message}).encode()
    return HttpResult(status, [("Content-Type", JSON_TYPE)], body)


def match_route(template: str, path: str) -> dict[str, str] | None:
    """Match `/users/{id}` or a greedy `/files/{rest+}` / `{*rest}` against a path; None if no match."""
    t_parts = template.strip("/").split("/") if template.strip("/") else []
    p_parts = path.strip("/").split("/") if path.strip("/") else []
    params: dict[str, str] = {}
    for i, part in enumerate(t_parts):
        if part.startswith("{") and part.endswith("}"):
            name = part[1:-1]
            if name.endswith("+") or name.startswith("*"):
                rest = p_parts[i:]
                if not rest:
                    return None
                params[name.strip("+*")] = "/".join(rest)
                return params
            if i >= len(p_parts) or not p_parts[i]:
                return None
            params[name] = p_parts[i]
        elif i >= len(p_parts) or part != p_parts[i]:
            return None
    return params if len(p_parts) == len(t_parts) else None


_HEX = frozenset("0123456789abcdefABCDEF")


def unquote(text: str, plus: bool = False) -> str:
    """Percent-decoding as `urllib.parse.unquote(_plus)` does it, without importing urllib (~10 ms)."""
    if plus and "+" in text:
        text = text.replace("+", " ")
    if "%" not in text:
        return text
    first, *rest = text.split("%")
    out = bytearray(first.encode())
    for part in rest:
        if len(part) >= 2 and part[0] in _HEX and part[1] in _HEX:
            out += bytes.fromhex(part[:2])
            out += part[2:].encode()
        else:
            out += b"%" + part.encode()
    return out.decode("utf-8", "replace")


def parse_query(query: str) -> dict[str, list[str]]:
    """`a=1&a=2&b=` -> {"a": ["1", "2"], "b": [""]}, like `parse_qs(..., keep_blank_values=True)`."""
    params: dict[str, list[str]] = {}
    if not query:
        return params
    for pair in query.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        params.setdefault(unquote(name, True), []).append(unquote(value, True))
    return params
