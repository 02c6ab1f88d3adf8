"""`async def` portable handlers on the private runtime: awaited on the server's own loop (no worker thread),
in a slot of the same pool as `def` handlers, their timeout cancelling the task. A real server process
(uvicorn), raw sockets, a mix of `def` and `async def` functions in one service.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from server_harness import BASIC_FUNCTIONS, Runtime, fill_slot_and_queue, request, start_runtime
from test_server_events import STRUCTURED, binary_headers, structured


def _fn(handler: str, path: str | None = None, timeout: float = 5) -> dict[str, Any]:
    fn: dict[str, Any] = {"handler": handler, "timeout": timeout}
    if path:
        fn["http"] = [{"path": path, "methods": ["GET"]}]
    return fn


FUNCTIONS = {
    "ahello": _fn("asvc.hello", "/a/hello/{name}"),
    "asleep": _fn("asvc.sleepy", "/a/sleep", timeout=1),
    "aboom": _fn("asvc.boom", "/a/boom"),
    "aexit": _fn("asvc.exits", "/a/exit"),
    "greeter": _fn("asvc.greeter", "/a/greeter"),
    "aevents": _fn("asvc.on_event"),
    "hello": BASIC_FUNCTIONS["hello"],  # a def handler in the same service
}


@pytest.fixture(scope="module")
def mark(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mark") / "marks.txt"


@pytest.fixture(scope="module")
def async_runtime(tmp_path_factory: pytest.TempPathFactory, mark: Path) -> Iterator[Runtime]:
    rt = start_runtime(tmp_path_factory.mktemp("async"), FUNCTIONS, limits={"concurrency": 4},
                       env={"MARK_FILE": str(mark)})
    yield rt
    rt.stop()


def _health(rt: Runtime) -> dict[str, Any]:
    return json.loads(request(rt, "GET", "/healthz")[2])  # type: ignore[no-any-return]


def _idle(rt: Runtime) -> dict[str, Any]:
    for _ in range(50):
        health = _health(rt)
        if health["running"] == 0 and health["queued"] == 0:
            return health
        time.sleep(0.1)
    return health


def test_async_handlers_answer_on_the_server_loop_beside_a_def_handler(async_runtime: Runtime) -> None:
    for _ in range(3):
        status, headers, body = request(async_runtime, "GET", "/a/hello/ada", headers={"X-Request-Id": "a-1"})
        answer = json.loads(body)
        assert status == 200 and answer["hello"] == "ada" and answer["request_id"] == "a-1"
        assert headers["x-request-id"] == "a-1"
    assert answer["thread"] == "MainThread"  # on the loop, not in a worker thread ("handler")
    assert answer["loops"] == 1  # every call on the same loop: a client session made there stays usable
    assert 4000 < answer["remaining_ms"] <= 5000  # the context's deadline, from the function's timeout
    status, _, body = request(async_runtime, "GET", "/a/greeter")
    assert status == 200 and json.loads(body) == {"greeter": True, "thread": "MainThread"}
    assert request(async_runtime, "GET", "/hello/bob")[0] == 200  # the def function beside them
    line = [r for r in async_runtime.records() if r.get("request_id") == "a-1"][-1]
    assert (line["type"], line["status"], line["function"], line["path"]) == (
        "access", 200, "ahello", "/a/hello/{name}")


def test_the_timeout_cancels_the_handler_answers_504_and_frees_the_slot(async_runtime: Runtime, mark: Path) -> None:
    started = time.monotonic()
    status, headers, body = request(async_runtime, "GET", "/a/sleep?s=10&tag=t1")
    elapsed = time.monotonic() - started
    assert status == 504 and json.loads(body) == {"error": "function timed out after 1 s"}
    assert headers["x-request-id"]
    assert elapsed < 2.5, elapsed  # within its timeout (1 s), not after the handler's 10 s
    assert "cancelled t1" in mark.read_text()  # the handler really stopped, at its await
    assert _idle(async_runtime)["running"] == 0  # the slot is back
    status, _, body = request(async_runtime, "GET", "/a/sleep?s=0.05&tag=t2")  # the next call is served
    assert status == 200 and json.loads(body)["slept"] is True
    assert "finished t2" in mark.read_text()


def test_an_exception_is_a_generic_500_with_the_traceback_logged(async_runtime: Runtime) -> None:
    status, headers, body = request(async_runtime, "GET", "/a/boom", headers={"X-Request-Id": "boom-1"})
    assert status == 500 and json.loads(body) == {"error": "internal server error"}
    assert b"kaboom" not in body
    logged = [r for r in async_runtime.records() if r.get("request_id") == "boom-1" and r.get("traceback")]
    assert logged and "RuntimeError: async kaboom" in logged[0]["traceback"]
    assert "async def boom" in logged[0]["traceback"] or "asvc.py" in logged[0]["traceback"]


def test_system_exit_in_an_async_handler_is_a_500_and_the_server_keeps_serving(async_runtime: Runtime) -> None:
    for _ in range(2):
        status, _, body = request(async_runtime, "GET", "/a/exit")
        assert status == 500 and json.loads(body) == {"error": "internal server error"}
    assert async_runtime.proc.poll() is None
    assert request(async_runtime, "GET", "/a/hello/after")[0] == 200
    assert request(async_runtime, "GET", "/hello/after")[0] == 200
    assert any(r.get("error_type") == "SystemExit" for r in async_runtime.records())


def test_cloudevents_reach_an_async_handler(async_runtime: Runtime) -> None:
    data = {"messages": [{"id": "m1", "body": "ok"}, {"id": "m2", "body": "bad"}]}
    status, _, body = request(async_runtime, "POST", "/_events/aevents",
                              structured("io.multicloud.queue.messages", data), STRUCTURED)
    assert status == 200 and json.loads(body) == {"failed": ["m2"]}  # its BatchResult, mapped
    status, _, body = request(async_runtime, "POST", "/_events/aevents",
                              structured("io.multicloud.direct", {"n": 1}), STRUCTURED)
    assert status == 200 and json.loads(body) == {"direct": {"n": 1}, "type": "io.multicloud.direct",
                                                  "thread": "MainThread"}
    bad = json.dumps({"bucket": "b", "key": "raise"}).encode()
    status, _, body = request(async_runtime, "POST", "/_events/aevents", bad,
                              binary_headers("io.multicloud.storage.object.deleted"))
    assert status == 500 and b"cannot process" not in body  # the sender retries


def test_slots_queue_and_429_count_async_calls_then_the_drain_waits_for_them(tmp_path: Path) -> None:
    functions = {"asleep": _fn("asvc.sleepy", "/a/sleep", timeout=5), "hello": BASIC_FUNCTIONS["hello"]}
    rt = start_runtime(tmp_path, functions, limits={"concurrency": 1, "max_queue": 1})
    try:
        join = fill_slot_and_queue(rt, "/a/sleep?s=0.8")
        health = _health(rt)
        assert (health["running"], health["queued"]) == (1, 1)  # one on the loop, one waiting for the slot
        status, headers, _ = request(rt, "GET", "/a/sleep?s=0")
        assert status == 429 and headers["retry-after"] == "1"
        assert request(rt, "GET", "/hello/x")[0] == 429  # one pool: the async calls hold the def one's slots
        assert join() == [200, 200]
        assert request(rt, "GET", "/hello/x")[0] == 200
        # SIGTERM with an async call in flight: the drain lets it finish
        late: list[int] = []
        in_flight = threading.Thread(target=lambda: late.append(request(rt, "GET", "/a/sleep?s=0.8")[0]))
        in_flight.start()
        time.sleep(0.2)
    finally:
        code = rt.stop()
    in_flight.join(5)
    assert code == 0 and late == [200]


def test_a_call_waiting_for_a_slot_past_its_timeout_is_504_and_never_starts(tmp_path: Path) -> None:
    mark = tmp_path / "marks.txt"
    functions = {"asleep": _fn("asvc.sleepy", "/a/sleep", timeout=1), "along": _fn("asvc.sleepy", "/a/long")}
    rt = start_runtime(tmp_path, functions, limits={"concurrency": 1, "max_queue": 4}, env={"MARK_FILE": str(mark)})
    try:
        out: list[int] = []
        first = threading.Thread(target=lambda: out.append(request(rt, "GET", "/a/sleep?s=0.9&tag=first")[0]))
        first.start()
        time.sleep(0.3)
        status, _, _ = request(rt, "GET", "/a/sleep?s=0&tag=queued")  # waits 0.6 s, then 0.4 s left: served
        assert status == 200
        first.join(5)
        second = threading.Thread(target=lambda: out.append(request(rt, "GET", "/a/long?s=1.5&tag=second")[0]))
        second.start()
        time.sleep(0.05)
        started = time.monotonic()
        status, _, _ = request(rt, "GET", "/a/sleep?s=0&tag=starved")  # the slot is busy past its whole timeout
        assert status == 504 and time.monotonic() - started < 1.5
        second.join(5)
        assert out == [200, 200] and _idle(rt)["running"] == 0
        marks = mark.read_text()
        assert "starved" not in marks and "finished first" in marks and "finished queued" in marks
    finally:
        rt.stop()


def test_the_drain_timeout_cancels_an_async_call_with_a_503(tmp_path: Path) -> None:
    mark = tmp_path / "marks.txt"
    functions = {"asleep": _fn("asvc.sleepy", "/a/sleep", timeout=30)}
    rt = start_runtime(tmp_path, functions, limits={"drain_timeout": 0.5}, env={"MARK_FILE": str(mark)})
    out: list[Any] = []

    def call() -> None:
        try:
            out.append(request(rt, "GET", "/a/sleep?s=20&tag=drained")[0])
        except OSError as exc:
            out.append(exc)

    t = threading.Thread(target=call)
    t.start()
    time.sleep(0.3)
    started = time.monotonic()
    assert rt.stop() == 0
    assert time.monotonic() - started < 3
    t.join(5)
    assert isinstance(out[0], OSError) or out[0] == 503  # told so, or cut if the answer lost the race
    assert "cancelled drained" in mark.read_text()
