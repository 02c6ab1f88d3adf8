"""The runtime's internal API, in process on a real uvicorn server: background services on the server's loop
(started once it listens, told to stop when the drain starts), `invoke` under the same slots, timeouts and
logs as HTTP, and a function's HTTP dispatch replaced by another style.
"""

from __future__ import annotations

import asyncio
import io
import json
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from server_harness import APP

from multicloud.runtime.events import Event, Message
from multicloud.runtime.server import build_server, listen_socket, prepare
from multicloud.runtime.server_app import HttpCall, RuntimeApp
from multicloud.runtime.server_config import parse_config
from multicloud.runtime.server_log import JsonLog

FUNCTIONS = {
    "events": {"handler": "svc.on_event", "timeout": 5},
    "slow": {"handler": "svc.slow", "timeout": 0.3, "http": [{"path": "/slow", "methods": ["GET"]}]},
    "exits": {"handler": "svc.exits", "timeout": 5, "http": [{"path": "/exit", "methods": ["GET"]}]},
    "hello": {"handler": "svc.hello", "timeout": 5, "http": [{"path": "/hello/{name}", "methods": ["GET"]}]},
}


def _server(tmp_path: Path, limits: dict[str, Any]) -> tuple[Any, socket.socket, io.StringIO]:
    config = parse_config({"format": 1, "service": "svc", "target": "local", "paths": [str(APP)],
                           "functions": FUNCTIONS, "limits": limits}, tmp_path)
    handlers, key = prepare(config)
    stream = io.StringIO()
    return build_server(config, handlers, key, JsonLog(stream)), listen_socket("127.0.0.1", 0), stream


def _direct(data: object) -> Event:
    return Event("direct", id="e-1", source="/test", data=data)


def test_background_service_invokes_functions_under_the_limits(tmp_path: Path) -> None:
    server, sock, stream = _server(tmp_path, {"concurrency": 1, "max_queue": 0})
    seen: dict[str, Any] = {}

    async def service(app: RuntimeApp) -> None:
        seen["started"] = True
        seen["direct"] = await app.invoke("events", _direct({"x": 1}))
        seen["batch"] = await app.invoke("events", Event(
            "queue", id="b-1", source="/test", type="io.multicloud.queue.messages",
            messages=[Message("m1", b"bad"), Message("m2", b"good")]))
        # one slot, no queue: while /slow holds the slot past its timeout, a second call is refused
        first = asyncio.ensure_future(app.invoke("slow", _http_event("/slow?s=1")))
        await asyncio.sleep(0.05)
        seen["refused"] = await app.invoke("events", _direct({}))
        seen["timed_out"] = await first
        server.should_exit = True  # ask for the drain: the service is told through drain_event
        await app.drain_event.wait()  # type: ignore[union-attr]
        seen["drained"] = app.draining

    server.app.background.add("consumer", service)
    server.run(sockets=[sock])
    assert seen["started"] and seen["drained"]
    assert (seen["direct"].status, seen["direct"].value) == (200, {"direct": {"x": 1}, "type": "io.multicloud.direct"})
    assert (seen["batch"].status, seen["batch"].failed) == (200, ["m1"])
    assert seen["refused"].status == 429 and seen["timed_out"].status == 504
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    events = [r for r in lines if r.get("type") == "event"]
    assert [r["status"] for r in events] == [200, 200, 429, 504]
    assert all(r["request_id"] and "duration_ms" in r for r in events)


def _http_event(path: str) -> Event:
    from multicloud.runtime.http import HttpRequest

    target, _, query = path.partition("?")
    request = HttpRequest("GET", target, query=query)
    return Event("direct", id="h-1", source="/test", data=None, http=request)


def test_a_function_s_http_dispatch_can_be_replaced(tmp_path: Path) -> None:
    server, sock, _ = _server(tmp_path, {})
    app: RuntimeApp = server.app

    class Native:
        """A stand-in for another handler style (an ASGI app served natively, say): answers by itself."""

        async def http(self, call: HttpCall) -> None:
            body = json.dumps({"style": "native", "params": call.params, "function": call.function}).encode()
            await app.respond(call.send, call.request, 200, [("Content-Type", "application/json")], body,
                              {"function": call.function, "request_id": call.request_id})

    app.dispatch["hello"] = Native()
    port = sock.getsockname()[1]
    answers: list[Any] = []

    async def client(app: RuntimeApp) -> None:
        loop = asyncio.get_running_loop()
        for path in ("/hello/ada", "/exit"):
            answers.append(await loop.run_in_executor(None, _get, f"http://127.0.0.1:{port}{path}"))
        server.should_exit = True

    app.background.add("client", client)
    server.run(sockets=[sock])
    assert answers[0] == (200, {"style": "native", "params": {"name": "ada"}, "function": "hello"})
    assert answers[1][0] == 500  # the other functions keep the default style (a handler calling sys.exit: 500)


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, None


def test_the_broker_consumer_waits_for_room_where_http_gets_429(tmp_path: Path) -> None:
    """The broker consumer (server_broker.BrokerService) calls through `app.invoke` like any background
    service; when every slot is busy and the wait queue is full, HTTP and a plain `invoke` get 429, but a
    batch waits for a slot (within its function's timeout) instead of failing an attempt of its messages."""
    import dataclasses

    from multicloud.runtime.server_broker import BrokerService
    from multicloud.runtime.server_config import parse_broker

    server, sock, _stream = _server(tmp_path, {"concurrency": 1, "max_queue": 0})
    broker = {"servers": ["nats://127.0.0.1:1"], "password": "env:UNUSED", "subscriptions": []}
    # the consumer is never started (no broker here): only its call path is exercised
    server.app.config = dataclasses.replace(server.app.config, broker=parse_broker(broker, set(FUNCTIONS)))
    consumer = BrokerService(server.app, "unused")
    seen: dict[str, Any] = {}
    batch = Event("queue", id="b-2", source="/test", type="io.multicloud.queue.messages",
                  messages=[Message("m1", b"bad"), Message("m2", b"good")])

    async def service(app: RuntimeApp) -> None:
        holder = asyncio.ensure_future(app.invoke("slow", _http_event("/slow?s=0.6")))  # the one slot, 0.6 s
        await asyncio.sleep(0.05)
        seen["plain"] = await app.invoke("events", batch)
        loop = asyncio.get_running_loop()
        started = loop.time()
        seen["batch"] = await consumer.invoke("events", batch)
        seen["waited"] = loop.time() - started
        await holder
        server.should_exit = True

    server.app.background.add("consumer", service)
    server.run(sockets=[sock])
    assert seen["plain"].status == 429
    assert seen["batch"].failed == ["m1"] and seen["batch"].error is None  # handled: only the bad one failed
    assert 0.3 < seen["waited"] < 5, seen["waited"]  # it waited for the slot the slow call held
