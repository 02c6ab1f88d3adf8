"""`style: asgi` served natively by the private runtime (server_asgi): real FastAPI and Starlette apps in a
real server process, over raw sockets. Streaming arrives while the app is still producing, lifespan state
reaches requests and shutdown runs at SIGTERM, and the runtime's limits hold: timeout, 500, 413, 429, the
access line, secrets masked.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_harness import BASIC_FUNCTIONS, Runtime, closed_by_peer, fill_slot_and_queue, request, start_runtime

SECRET = "s3cr3t-asgi-value"
FUNCTIONS = {
    "fast": {"handler": "asgi_apps.fast", "style": "asgi", "timeout": 1,
             "http": [{"path": "/fast/{proxy+}", "methods": ["GET", "POST"]}]},
    "star": {"handler": "asgi_apps.star", "style": "asgi", "timeout": 10,
             "http": [{"path": "/star/{proxy+}", "methods": ["GET"]}]},
    "bare": {"handler": "asgi_apps.bare", "style": "asgi", "timeout": 5,
             "secrets": {"ASGI_SECRET": "env:TEST_ASGI_SECRET"},
             "http": [{"path": "/bare/{proxy+}", "methods": ["GET"]}]},
    "hello": BASIC_FUNCTIONS["hello"],
}


@pytest.fixture(scope="module")
def asgi_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    rt = start_runtime(tmp_path_factory.mktemp("asgi"), FUNCTIONS, limits={"max_body_bytes": 1024, "concurrency": 8},
                       env={"TEST_ASGI_SECRET": SECRET})
    yield rt
    rt.stop()


def _read_until(sock: socket.socket, marker: bytes, data: bytes = b"") -> bytes:
    while marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_the_apps_answer_and_lifespan_state_reaches_requests_on_the_serving_loop(asgi_runtime: Runtime) -> None:
    status, headers, body = request(asgi_runtime, "GET", "/fast/state")
    assert status == 200 and json.loads(body) == {"pool": "opened at startup", "same_loop": True}
    assert headers["x-request-id"]
    # an app without lifespan support is served all the same; raw_path and query_string as sent
    status, _, body = request(asgi_runtime, "GET", "/bare/ok%20x?a=1&b=%2F")
    assert (status, body) == (200, b"/bare/ok%20x?a=1&b=%2F")
    assert request(asgi_runtime, "GET", "/hello/you")[0] == 200  # a portable function beside them


def test_a_streamed_response_arrives_while_the_app_is_still_producing(asgi_runtime: Runtime) -> None:
    """The last chunk is produced only after the client has read the first one and asked for the rest on
    another connection: a buffered answer would wait 5 s and say so in its last chunk."""
    with asgi_runtime.connect() as sock:
        sock.sendall(b"GET /star/stream HTTP/1.1\r\nHost: test\r\n\r\n")
        started = time.monotonic()
        data = _read_until(sock, b"first\n")
        first_after = time.monotonic() - started
        assert b"transfer-encoding: chunked" in data.lower() and b"first\n" in data
        assert request(asgi_runtime, "GET", "/star/release")[0] == 200
        data = _read_until(sock, b"0\r\n\r\n", data)
    assert b"last\n" in data and b"not released" not in data
    assert first_after < 2, first_after


def test_the_timeout_answers_504_before_the_response_and_cuts_a_started_one(asgi_runtime: Runtime) -> None:
    started = time.monotonic()
    status, _, body = request(asgi_runtime, "GET", "/fast/sleep?s=5")
    assert status == 504 and json.loads(body) == {"error": "function timed out after 1 s"}
    assert time.monotonic() - started < 3
    with asgi_runtime.connect() as sock:
        sock.sendall(b"GET /fast/slow-stream HTTP/1.1\r\nHost: test\r\n\r\n")
        data = _read_until(sock, b"begun\n")
        assert data.startswith(b"HTTP/1.1 200")
        assert closed_by_peer(sock, timeout=5)  # cut at the timeout: no final chunk, the client sees a truncation
    # the cancelled calls give their slots back once they have really ended (a loop step or two later)
    for _ in range(50):
        health = json.loads(request(asgi_runtime, "GET", "/healthz")[2])
        if health["running"] == 0:
            break
        time.sleep(0.1)
    assert (health["running"], health["queued"]) == (0, 0)


def test_an_exception_before_the_response_is_a_500_with_the_secret_masked(asgi_runtime: Runtime) -> None:
    status, headers, body = request(asgi_runtime, "GET", "/bare/boom")
    assert status == 500 and json.loads(body) == {"error": "internal server error"}
    text = asgi_runtime.log.read_text()
    assert "ValueError" in text and "broken with ***" in text and SECRET not in text


def test_a_body_over_the_limit_is_413_declared_or_streamed(asgi_runtime: Runtime) -> None:
    status, _, body = request(asgi_runtime, "POST", "/fast/echo", b"x" * 1000)
    assert (status, json.loads(body)) == (200, {"size": 1000})
    assert request(asgi_runtime, "POST", "/fast/echo", b"x" * 2000)[0] == 413
    with asgi_runtime.connect() as sock:  # chunked: the app reads a disconnect once the limit is passed
        sock.sendall(b"POST /fast/echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
                     + b"258\r\n" + b"y" * 600 + b"\r\n" + b"258\r\n" + b"y" * 600 + b"\r\n0\r\n\r\n")
        data = _read_until(sock, b"}")
    assert data.startswith(b"HTTP/1.1 413") and b"byte limit" in data


def test_each_request_has_one_access_line_with_the_route_template(asgi_runtime: Runtime) -> None:
    request(asgi_runtime, "GET", "/fast/sleep?s=0&token=hidden", headers={"X-Request-Id": "asgi-req-1"})
    lines = [r for r in asgi_runtime.records() if r.get("request_id") == "asgi-req-1"]
    assert len(lines) == 1
    line = lines[0]
    assert (line["type"], line["status"], line["function"], line["path"]) == ("access", 200, "fast", "/fast/{proxy+}")
    assert line["bytes"] == len(b'{"slept":0.0}') and "hidden" not in json.dumps(line)


def test_concurrency_slots_queue_and_429_then_lifespan_shutdown_at_sigterm(tmp_path: Path) -> None:
    functions = {"fast": {**FUNCTIONS["fast"], "timeout": 5}, "hello": BASIC_FUNCTIONS["hello"]}
    done_file = tmp_path / "shutdown"
    rt = start_runtime(tmp_path, functions, limits={"concurrency": 1, "max_queue": 1},
                       env={"ASGI_SHUTDOWN_FILE": str(done_file)})
    try:
        join = fill_slot_and_queue(rt, "/fast/sleep?s=0.8")
        health = json.loads(request(rt, "GET", "/healthz")[2])
        assert (health["running"], health["queued"]) == (1, 1)  # counted like handler threads
        status, headers, _ = request(rt, "GET", "/fast/sleep?s=0")
        assert status == 429 and headers["retry-after"] == "1"
        assert request(rt, "GET", "/hello/x")[0] == 429  # one pool: the ASGI call holds the portable one's slot
        assert join() == [200, 200]
        assert not done_file.exists()
        # SIGTERM with a call in flight: it finishes, then the app's lifespan shutdown runs
        late: list[int] = []
        in_flight = threading.Thread(target=lambda: late.append(
            request(rt, "GET", "/fast/sleep?s=0.8", headers={"X-Request-Id": "in-flight"})[0]))
        in_flight.start()
        time.sleep(0.2)
    finally:
        code = rt.stop()
    in_flight.join(5)
    assert code == 0 and late == [200] and done_file.read_text() == "shutdown ran"
    records = rt.records()
    order = [r.get("message") or r.get("request_id") for r in records
             if r.get("message", "").startswith("lifespan") or r.get("request_id") == "in-flight"]
    assert order == ["lifespan startup complete", "in-flight", "lifespan shutdown complete"]


def test_a_failed_lifespan_startup_stops_the_server_like_a_failed_import(tmp_path: Path) -> None:
    functions = {"broken": {"handler": "asgi_apps.broken", "style": "asgi", "timeout": 5,
                            "http": [{"path": "/b", "methods": ["GET"]}]}}
    with pytest.raises(AssertionError, match="server exited 78") as info:
        start_runtime(tmp_path, functions)
    assert "cannot start" in str(info.value) and "the database is unreachable" in str(info.value)
