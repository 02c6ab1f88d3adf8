"""`async def` portable handlers outside the private runtime: found at load, run to their end on the one
background loop the shims share (asgi.event_loop), cancelled at the context's deadline, and the test helper
`multicloud.runtime.testing.run` doing the same. Real handlers, the real loop thread; nothing mocked."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import async_handler
import pytest

from multicloud.runtime.asgi import event_loop
from multicloud.runtime.http import HttpRequest
from multicloud.runtime.invoke import (
    AsyncHandler,
    HandlerLoadError,
    HandlerTimeout,
    handle_event,
    handle_http,
    load_handler,
)
from multicloud.runtime.testing import http_event, make_context, queue_event, run


def test_load_handler_finds_async_handlers_once_and_leaves_def_ones_alone() -> None:
    for name in ("handler", "greeter", "tagged"):
        assert isinstance(load_handler(f"async_handler.{name}"), AsyncHandler), name
    assert load_handler("async_handler.plain") is async_handler.plain  # a def handler is returned as it is
    assert run(load_handler("async_handler.greeter"), http_event()) == "hi"
    assert run(load_handler("async_handler.tagged"), http_event()) == "partial"


def test_every_invocation_runs_on_the_one_shared_loop() -> None:
    handler = load_handler("async_handler.handler")
    first = handler(http_event("GET", "/"), make_context())
    second = handler(http_event("GET", "/"), make_context())
    assert second["session_calls"] == first["session_calls"] + 1 and second["loop"] == first["loop"]
    assert first["thread"] == "asgi-loop" and first["loop"] == id(event_loop())  # the one background loop
    third = run(async_handler.handler, http_event())  # the test helper: the same loop too
    assert third["session_calls"] == second["session_calls"] + 1 and third["loop"] == first["loop"]


def test_the_deadline_cancels_the_coroutine_and_http_answers_504() -> None:
    handler = load_handler("async_handler.sleepy")
    ctx = make_context(timeout_ms=300)
    started = time.monotonic()
    with pytest.raises(HandlerTimeout):
        run(handler, http_event("GET", "/", query={"s": ["5"]}), ctx)
    assert time.monotonic() - started < 2
    for _ in range(50):  # the cancellation reaches the coroutine on the loop thread a moment later
        if ctx.request_id in async_handler.CANCELLED:
            break
        time.sleep(0.02)
    assert ctx.request_id in async_handler.CANCELLED
    result = handle_http(handler, HttpRequest("GET", "/", query="s=5"), make_context(timeout_ms=200))
    assert result.status == 504 and json.loads(result.body) == {"error": "function timed out"}
    assert run(handler, http_event("GET", "/", query={"s": ["0.01"]}), make_context(timeout_ms=2000)) == {"slept": 0.01}


def test_errors_map_as_for_def_handlers_and_system_exit_does_not_stop_the_loop() -> None:
    handler = load_handler("async_handler.handler")
    result = handle_http(handler, HttpRequest("GET", "/boom"), make_context())
    assert result.status == 500 and b"async boom" not in result.body
    assert handle_event(handler, queue_event("ok", "fail-2"), make_context()) == ["2"]  # BatchResult mapped
    with pytest.raises(SystemExit) as exited:  # raised in the caller's thread, as a def handler's would be
        run(load_handler("async_handler.exits"), http_event())
    assert exited.value.code == 4
    assert event_loop().is_running()
    assert "session_calls" in run(handler, http_event())  # the shared loop still serves


def test_platform_threads_calling_at_once_share_the_loop_and_overlap() -> None:
    """functions-framework and Azure's worker call from several threads: the calls wait on the shared loop
    together (eight 0.3 s sleeps take about 0.3 s, not 2.4 s)."""
    handler = load_handler("async_handler.sleepy")
    started = time.monotonic()
    with ThreadPoolExecutor(8) as threads:
        out = list(threads.map(lambda _: run(handler, http_event("GET", "/", query={"s": ["0.3"]})), range(8)))
    assert out == [{"slept": 0.3}] * 8
    assert time.monotonic() - started < 1.5


def test_style_aws_refuses_an_async_handler_with_the_fix() -> None:
    from multicloud.runtime.aws import entry

    with pytest.raises(HandlerLoadError, match="async def") as info:
        load_handler("async_handler.handler", style="aws")
    assert "portable" in info.value.fix
    with pytest.raises(HandlerLoadError, match="async def"):
        entry("async_handler.handler", "fn", style="aws")
