"""RFC 9112 / 9110 conformance and slow clients, over raw sockets against the real runtime process.

Each hostile request (hostile_http.py) must get an answer the RFC allows and a closed connection, and the server
must keep serving. Slow clients (idle, a trickled head, a trickled body, a reader that stops reading, CRLF
forever) are cut by the timeouts, so they free their connection for others. A handler that exits answers
500; /healthz says "degraded" while every slot is stuck.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostile_http import CASES, Case, exchange
from server_harness import BASIC_FUNCTIONS, Runtime, read_response, request, start_runtime

FUNCTIONS = {
    **{name: fn for name, fn in BASIC_FUNCTIONS.items() if name != "private"},
    "exits": {"handler": "svc.exits", "timeout": 5, "http": [{"path": "/exit", "methods": ["GET"]}]},
    "interrupt": {"handler": "svc.interrupt", "timeout": 5, "http": [{"path": "/interrupt", "methods": ["GET"]}]},
    "big": {"handler": "svc.big", "timeout": 5, "http": [{"path": "/big", "methods": ["GET"]}]},
}
FAST = {"header_timeout": 0.6, "body_timeout": 0.6, "keepalive_timeout": 0.6, "write_timeout": 0.6,
        "max_connections": 3, "max_body_bytes": 1024}


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    rt = start_runtime(tmp_path_factory.mktemp("strict"), FUNCTIONS, limits=FAST)
    yield rt
    rt.stop()


def _serving(rt: Runtime) -> bool:
    return request(rt, "GET", "/hello/still")[0] == 200


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_request_gets_a_conforming_answer(runtime: Runtime, case: Case) -> None:
    status, data, closed = exchange("127.0.0.1", runtime.port, case.raw)
    assert status in case.runtime, f"{case.name} ({case.rule}): got {status}: {data[:200]!r}"
    if status is not None and status >= 400:
        assert closed, f"{case.name}: the connection must close after {status}"
        assert b"connection: close" in data.lower()
    assert request(runtime, "GET", "/hello/after")[0] == 200


def test_rejections_are_logged_with_the_reason(runtime: Runtime) -> None:
    exchange("127.0.0.1", runtime.port, b"GET /hello/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    lines = [r for r in runtime.records() if r.get("type") == "access" and r.get("status") == 400 and "error" in r]
    assert any("Host" in r["error"] for r in lines)


def test_pipelined_bad_request_is_answered_after_the_good_one(runtime: Runtime) -> None:
    raw = b"GET /hello/one HTTP/1.1\r\nHost: x\r\n\r\nGET /hello/two HTTP/1.1\r\n\r\n"
    _, data, closed = exchange("127.0.0.1", runtime.port, raw)
    first, _, rest = data.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200") and b"HTTP/1.1 400" in rest and closed


def test_idle_connection_is_closed_before_a_first_request(strict: Runtime) -> None:
    started = time.monotonic()
    with strict.connect() as sock:
        sock.settimeout(5)
        assert sock.recv(100) == b""  # closed without an answer: nothing was asked
    assert 0.5 < time.monotonic() - started < 3


def test_crlf_forever_does_not_hold_the_connection(strict: Runtime) -> None:
    started = time.monotonic()
    closed = False
    with strict.connect() as sock:
        for _ in range(100):  # 10 s of empty lines (allowed between requests, but not forever)
            try:
                sock.sendall(b"\r\n")
            except OSError:
                closed = True
                break
            if select.select([sock], [], [], 0.1)[0]:
                try:
                    closed = sock.recv(100) == b""
                except ConnectionResetError:
                    closed = True
                break
    assert closed and time.monotonic() - started < 3


def test_idle_keepalive_connection_is_closed(strict: Runtime) -> None:
    with strict.connect() as sock:
        assert request(strict, "GET", "/hello/ka", sock=sock)[0] == 200
        started = time.monotonic()
        sock.settimeout(5)
        assert sock.recv(100) == b""
        assert 0.4 < time.monotonic() - started < 3


def test_trickled_head_gets_408(strict: Runtime) -> None:
    with strict.connect() as sock:
        started = time.monotonic()
        sock.sendall(b"GET /hello/x HTTP/1.1\r\nHost: x\r\n")
        data = b""
        for _ in range(30):  # one header byte every 0.1 s: each byte is progress, the total is not
            time.sleep(0.1)
            try:
                sock.sendall(b"X")
                sock.settimeout(0.01)
                data += sock.recv(4096)
            except (TimeoutError, BlockingIOError):
                continue
            except OSError:
                break
            if data:
                break
        assert data.startswith(b"HTTP/1.1 408"), data
        assert time.monotonic() - started < 3


def test_trickled_body_gets_408(strict: Runtime) -> None:
    with strict.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        sock.settimeout(0.1)
        data = b""
        for _ in range(30):
            try:
                sock.sendall(b"y")
                data += sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                break
            if data:
                break
        assert data.startswith(b"HTTP/1.1 408"), data


def test_reader_that_stops_reading_is_cut_and_frees_its_place(strict: Runtime) -> None:
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect(("127.0.0.1", strict.port))
    slow.sendall(b"GET /big?n=30000000 HTTP/1.1\r\nHost: x\r\n\r\n")  # 30 MB, never read
    time.sleep(2.0)
    got = 0
    slow.settimeout(5)
    try:
        while chunk := slow.recv(1 << 20):
            got += len(chunk)
    except ConnectionResetError:
        pass
    slow.close()
    assert got < 30_000_000  # cut before the end
    assert any(r.get("message") == "connection cut" for r in strict.records())
    assert _serving(strict)


def test_slow_clients_cannot_keep_new_ones_out(strict: Runtime) -> None:
    held = [strict.connect() for _ in range(3)]  # the cap is 3: these hold every place, sending nothing
    try:
        with strict.connect() as extra:
            status, headers, _ = read_response(extra)
            assert status == 503 and headers["connection"] == "close"
        time.sleep(1.2)  # past header_timeout: the silent ones were closed
        assert _serving(strict)
    finally:
        for sock in held:
            sock.close()


@pytest.mark.parametrize("path", ["/exit", "/exit?code=0", "/interrupt"])
def test_handler_that_exits_gets_500_and_the_server_keeps_serving(strict: Runtime, path: str) -> None:
    status, _, body = request(strict, "GET", path)
    assert status == 500 and b"Traceback" not in body
    assert strict.proc.poll() is None
    assert _serving(strict)


def test_healthz_degraded_while_every_slot_is_stuck(tmp_path: Path) -> None:
    slow = {"slow": {"handler": "svc.slow", "timeout": 0.3, "http": [{"path": "/slow", "methods": ["GET"]}]}}
    rt = start_runtime(tmp_path, slow, limits={"concurrency": 1, "max_queue": 4})
    try:
        assert request(rt, "GET", "/healthz")[0] == 200
        out: list[int] = []
        caller = threading.Thread(target=lambda: out.append(request(rt, "GET", "/slow?s=2")[0]))
        caller.start()
        time.sleep(0.9)  # the call answered 504 at 0.3 s but keeps the only slot until it returns at 2 s
        status, _, body = request(rt, "GET", "/healthz")
        health = json.loads(body)
        assert status == 503 and health["status"] == "degraded" and health["running"] == 1
        caller.join()
        assert out == [504]
        time.sleep(1.4)
        assert request(rt, "GET", "/healthz")[0] == 200
    finally:
        rt.stop()
