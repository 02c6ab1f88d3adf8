"""Hostile HTTP/1.1 requests and what RFC 9112 / 9110 let a server answer, for raw-socket tests.

Shared by the runtime's own tests (tests/unit/server) and the docker gateway's (tests/e2e/docker, which load
this file by path): the same bytes must get a conforming answer straight from the runtime and through the
proxy in front of it. `runtime` is what the runtime itself must answer (its first element is what it does);
`proxied` is what a conforming proxy in front of it may answer where the RFC leaves a choice (a MAY),
defaulting to `runtime`.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

OK = frozenset({200})
B400 = frozenset({400})


@dataclass(frozen=True)
class Case:
    name: str
    raw: bytes
    runtime: frozenset[int]
    rule: str
    proxied: frozenset[int] | None = None

    @property
    def through_proxy(self) -> frozenset[int]:
        return self.proxied if self.proxied is not None else self.runtime


def cases(get_path: bytes = b"/hello/x", post_path: bytes = b"/echo", created: int = 201) -> list[Case]:
    """The corpus for a service with a GET route `get_path` and a POST route `post_path` answering `created`."""

    def _get(headers: bytes, version: bytes = b"HTTP/1.1", target: bytes = get_path) -> bytes:
        return b"GET " + target + b" " + version + b"\r\n" + headers + b"\r\n"

    def _post(headers: bytes, body: bytes = b"") -> bytes:
        return b"POST " + post_path + b" HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n" + body

    posted = frozenset({400, created})
    return [
        # Host (RFC 9112 3.2: exactly one, valid)
        Case("no Host in HTTP/1.1", _get(b""), B400, "9112 3.2 MUST 400"),
        Case("two Host fields", _get(b"Host: a\r\nHost: b\r\n"), B400, "9112 3.2 MUST 400"),
        Case("Host with a space", _get(b"Host: a b\r\n"), B400, "9112 3.2 invalid field value MUST 400"),
        Case("Host with a slash", _get(b"Host: a/b\r\n"), B400, "9112 3.2 invalid field value MUST 400"),
        Case("no Host in HTTP/1.0", _get(b"", b"HTTP/1.0"), OK, "Host is optional in 1.0"),
        Case("absolute-form target", _get(b"Host: x\r\n", target=b"http://x" + get_path), OK, "9112 3.2.2"),
        # field values (RFC 9110 5.5: no NUL, CR, LF; 9112 2.2: bare CR MUST be rejected or replaced)
        Case("NUL in a value", _get(b"Host: x\r\nX-A: a\x00b\r\n"), B400, "9110 5.5 MUST reject"),
        Case("bare CR in a value", _get(b"Host: x\r\nX-A: a\rb\r\n"), B400, "9112 2.2"),
        Case("bare LF ends a field", _get(b"Host: x\r\nX-A: a\nX-B: b\r\n"), B400, "9112 2.2 MAY accept",
             proxied=frozenset({400, 200})),
        Case("bare LF everywhere", b"GET " + get_path + b" HTTP/1.1\nHost: x\n\n", B400, "9112 2.2 MAY accept",
             proxied=frozenset({400, 200})),
        Case("control character in a value", _get(b"Host: x\r\nX-A: a\x01b\r\n"), B400, "9110 5.5"),
        Case("DEL in a value", _get(b"Host: x\r\nX-A: a\x7fb\r\n"), B400, "9110 5.5"),
        Case("obs-fold", _get(b"Host: x\r\nX-A: a\r\n b\r\n"), B400, "9112 5.2 MUST 400 or replace",
             proxied=frozenset({400, 200})),
        Case("space before the colon", _get(b"Host: x\r\nX-A : a\r\n"), B400, "9112 5.1 MUST 400"),
        Case("field line without a colon", _get(b"Host: x\r\nBad Header\r\n"), B400, "9112 5"),
        # Content-Length (RFC 9112 6.3)
        Case("Content-Length not a number", _post(b"Content-Length: abc\r\n"), B400, "9112 6.3 MUST 400"),
        Case("negative Content-Length", _post(b"Content-Length: -1\r\n"), B400, "9112 6.3"),
        Case("Content-Length with a sign", _post(b"Content-Length: +3\r\n", b"abc"), B400, "9112 6.3"),
        Case("Content-Length in hex", _post(b"Content-Length: 0x10\r\n"), B400, "9112 6.3"),
        Case("empty Content-Length", _post(b"Content-Length: \r\n"), B400, "9112 6.3"),
        Case("Content-Length over 2^64", _post(b"Content-Length: 99999999999999999999999\r\n"), B400, "9112 6.3"),
        Case("two different Content-Lengths", _post(b"Content-Length: 3\r\nContent-Length: 4\r\n", b"abcd"), B400,
             "9112 6.3 MUST 400"),
        Case("list of different lengths", _post(b"Content-Length: 3, 4\r\n", b"abcd"), B400, "9112 6.3 MUST 400"),
        Case("same length twice", _post(b"Content-Length: 3\r\nContent-Length: 3\r\n", b"abc"), B400,
             "9110 8.6 MAY reject or merge", proxied=posted),
        # Transfer-Encoding (RFC 9112 6.1, 6.3)
        Case("Transfer-Encoding with Content-Length",
             _post(b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"), B400,
             "9112 6.3 MAY reject, or use TE and close", proxied=posted),
        Case("chunked not last", _post(b"Transfer-Encoding: gzip\r\n"), B400, "9112 6.3 MUST 400"),
        Case("unknown coding then chunked", _post(b"Transfer-Encoding: gzip, chunked\r\n", b"0\r\n\r\n"),
             frozenset({501}), "9112 6.1 SHOULD 501 (HAProxy answers 422)",
             proxied=frozenset({501, 422, 400})),
        Case("chunked twice", _post(b"Transfer-Encoding: chunked, chunked\r\n", b"0\r\n\r\n"), B400,
             "9112 6.1 MUST NOT twice"),
        Case("Transfer-Encoding in HTTP/1.0",
             b"POST " + post_path + b" HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", B400,
             "9112 6.1 faulty framing"),
        Case("bad chunk size", _post(b"Transfer-Encoding: chunked\r\n", b"zz\r\n"), B400, "9112 7.1"),
        Case("chunk without its CRLF", _post(b"Transfer-Encoding: chunked\r\n", b"3\r\nabcX0\r\n\r\n"), B400,
             "9112 7.1"),
        # versions and request lines (RFC 9112 2.3, 3; RFC 9110 15.6.6)
        Case("HTTP/2.0 in HTTP/1 syntax", _get(b"Host: x\r\n", b"HTTP/2.0"), frozenset({505}), "9110 15.6.6",
             proxied=frozenset({505, 400})),
        Case("HTTP/3.1", _get(b"Host: x\r\n", b"HTTP/3.1"), frozenset({505}), "9110 15.6.6",
             proxied=frozenset({505, 400})),
        Case("HTTP/1.2", _get(b"Host: x\r\n", b"HTTP/1.2"), frozenset({400, 505, 200}), "9112 2.3 SHOULD as 1.1"),
        Case("HTTP/0.9 request", b"GET " + get_path + b"\r\n\r\n", frozenset({400, 505}), "not HTTP/1.1"),
        Case("unknown method", _get(b"Host: x\r\n").replace(b"GET", b"BREW", 1), frozenset({501}),
             "9110 9.1 SHOULD 501", proxied=frozenset({501, 405, 400})),
        Case("lower-case method", _get(b"Host: x\r\n").replace(b"GET", b"get", 1), frozenset({501}),
             "9110 9.1 case-sensitive, unrecognized", proxied=frozenset({501, 405, 400})),
        Case("lower-case version", _get(b"Host: x\r\n", b"http/1.1"), B400, "9112 2.3 case-sensitive"),
        Case("no path", _get(b"Host: x\r\n", target=b"nopath"), B400, "9112 3.2"),
        Case("garbage", b"GARBAGE\r\n\r\n", B400, "9112 3"),
        Case("TLS ClientHello on the plain port", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", B400,
             "9112 3"),
        # sizes
        Case("head over the limit", _get(b"Host: x\r\nX-Big: " + b"a" * 70000 + b"\r\n"), frozenset({431}),
             "RFC 6585 431", proxied=frozenset({431, 400})),
        Case("target over the limit", _get(b"Host: x\r\n", target=b"/" + b"a" * 70000), frozenset({414, 431}),
             "9110 15.5.15", proxied=frozenset({414, 431, 400})),
    ]


CASES = cases()


def exchange(host: str, port: int, raw: bytes, timeout: float = 5.0) -> tuple[int | None, bytes, bool]:
    """Send `raw`; return (status of the first answer or None, all bytes read, closed by the server)."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        try:
            sock.sendall(raw)
        except OSError:
            pass  # the server may close before taking everything (a head over the limit)
        data, closed = b"", False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            data += chunk
            if b"\r\n\r\n" in data and not data.startswith(b"HTTP/1.1 100"):
                sock.settimeout(0.5)  # an answer is in: wait briefly to see whether the connection closes
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.") else None
    if status == 100:
        rest = data.split(b"\r\n\r\n", 1)[1]
        status = int(rest.split(b" ", 2)[1]) if rest.startswith(b"HTTP/1.") else None
    return status, data, closed
