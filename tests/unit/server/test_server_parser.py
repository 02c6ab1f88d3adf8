"""The incremental HTTP parser on its own: any split of the bytes gives the same requests, garbage only
ever raises HttpError, and work stays linear when a client trickles bytes."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from multicloud.runtime.server_http import HttpError, RequestParser, serialize

STREAM = (
    b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"
    b"POST /b HTTP/1.1\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
    b"PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: 1\r\n\r\n"
    b"GET /d HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
)
EXPECTED = [("GET", "/a", "x=1", b"", True), ("POST", "/b", "", b"hello", False),
            ("PUT", "/c", "", b"abcde", True), ("GET", "/d", "", b"", True)]


def parse_all(pieces: list[bytes]) -> list[tuple[str, str, str, bytes, bool]]:
    parser = RequestParser(max_body=1 << 20, max_header=1 << 16)
    out = []
    for piece in pieces:
        parser.feed(piece)
        while (req := parser.next()) is not None:
            out.append((req.method, req.path, req.query_string, req.body, req.keep_alive))
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, len(STREAM)), max_size=40))
def test_any_split_parses_the_same(cuts: list[int]) -> None:
    points = sorted(set(cuts))
    pieces = [STREAM[a:b] for a, b in zip([0, *points], [*points, len(STREAM)], strict=True)]
    assert parse_all(pieces) == EXPECTED


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_only_raises_http_errors(data: bytes) -> None:
    parser = RequestParser(max_body=100, max_header=200)
    parser.feed(data)
    try:
        while parser.next() is not None:
            pass
    except HttpError as err:
        assert err.status in (400, 413, 431, 501)


def test_trickled_head_and_chunked_body_stay_linear() -> None:
    parser = RequestParser(max_body=1 << 20, max_header=1 << 16)
    head = b"POST /x HTTP/1.1\r\nX-Pad: " + b"p" * 30000 + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
    body = b"1\r\nz\r\n" * 20000 + b"0\r\n\r\n"
    started = time.perf_counter()
    for i in range(len(head)):
        parser.feed(head[i:i + 1])
        assert parser.next() is None
    for i in range(0, len(body), 7):
        parser.feed(body[i:i + 7])
        req = parser.next()
    elapsed = time.perf_counter() - started
    assert req is not None and req.body == b"z" * 20000
    assert elapsed < 5  # quadratic rescanning would take minutes here


@pytest.mark.parametrize(("status", "headers", "body", "expect"), [
    (200, [("X-A", "1")], b"hi", b"HTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Type: application/octet-stream\r\n"
                                  b"Content-Length: 2\r\n"),
    (204, [("Content-Length", "99")], b"", b"HTTP/1.1 204 No Content\r\nDate: "),
    (200, [("X-Bad", "a\r\nInjected: 1")], b"", b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"),
])
def test_serialize_owns_framing(status: int, headers: list[tuple[str, str]], body: bytes, expect: bytes) -> None:
    out = serialize(status, headers, body, keep_alive=True)
    assert out.startswith(expect)
    assert b"Injected" not in out and out.count(b"Content-Length") <= 1
