"""Request dispatch of the private runtime: routes, auth, concurrency slots, timeouts, handler threads.

Everything here runs on the event loop except the handler call itself, which runs in a thread pool with
exactly `concurrency` threads. A request takes a slot (or waits in a bounded queue; beyond it: 429);
its timeout runs from arrival, so queueing counts against it, and when it passes the client gets 504 at
once. Python cannot stop a thread, so an overrunning handler keeps its slot until it returns: the limit
stays true to the threads actually busy.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, unquote

from multicloud.runtime.context import Context
from multicloud.runtime.events import Event, ScheduleInfo
from multicloud.runtime.http import HttpRequest, HttpResult, error_result, to_result
from multicloud.runtime.invoke import handle_direct, handle_event, handle_http, rfc3339
from multicloud.runtime.server_config import RuntimeConfig
from multicloud.runtime.server_events import parse_cloudevent
from multicloud.runtime.server_http import HttpConnection, HttpError, RawRequest
from multicloud.runtime.server_log import JsonLog
from multicloud.runtime.server_routes import RouteTable

JSON = [("Content-Type", "application/json")]
EVENTS_PREFIX = "/_events/"
KEY_HEADER = "x-multicloud-key"


def _json(status: int, payload: object) -> tuple[int, list[tuple[str, str]], bytes]:
    return status, list(JSON), json.dumps(payload).encode()


@dataclass
class Job:
    function: str
    work: Callable[[float], tuple[int, list[tuple[str, str]], bytes]]  # gets the deadline (monotonic)
    deadline: float
    done: Callable[[int, list[tuple[str, str]], bytes, dict[str, object]], None]
    extra: dict[str, object] = field(default_factory=dict)
    timer: asyncio.TimerHandle | None = None
    finished: bool = False


class RuntimeApp:
    def __init__(
        self,
        config: RuntimeConfig,
        handlers: dict[str, Callable[..., object]],
        auth_key: str | None,
        log: JsonLog,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.config = config
        self.handlers = handlers
        self.auth_key = auth_key.encode() if auth_key is not None else None
        self.log = log
        self.loop = loop
        self.routes = RouteTable(config.routes)
        self.limit = config.limits.concurrency
        self.max_queue = config.limits.max_queue
        self.executor = ThreadPoolExecutor(max_workers=self.limit, thread_name_prefix="handler")
        self.running = 0
        self.waiting: deque[Job] = deque()
        self.draining = False
        self.in_flight = 0  # requests accepted and not yet answered
        self.idle_waiters: list[asyncio.Future[None]] = []
        self.pid = os.getpid()

    # ---- App protocol (called by HttpConnection) ---------------------------------------------------
    def handle(self, conn: HttpConnection, request: RawRequest) -> None:
        self.in_flight += 1

        def done(status: int, headers: list[tuple[str, str]], body: bytes, extra: dict[str, object]) -> None:
            self.in_flight -= 1
            conn.respond(request, status, headers, body, extra)
            if self.in_flight == 0 and self.running == 0:
                self._wake_idle()

        try:
            self._route(request, done)
        except HttpError as err:
            done(*_json(err.status, {"error": err.message}), {})

    def access(self, request: RawRequest | None, status: int, size: int, extra: dict[str, object]) -> None:
        record: dict[str, object] = {"level": "INFO" if status < 500 else "ERROR", "type": "access",
                                     "status": status, "bytes": size}
        if request is not None:
            record.update(method=request.method, path=request.path, client_ip=request.client_ip,
                          duration_ms=round((time.perf_counter() - request.started) * 1000, 3))
        record.update(extra)
        self.log.write(record)

    # ---- routing -----------------------------------------------------------------------------------
    def _route(self, request: RawRequest, done: Callable[..., None]) -> None:
        path = request.path
        if path == "/healthz":
            if self.draining:
                done(*_json(503, {"status": "draining", "pid": self.pid}), {})
            else:
                done(*_json(200, {"status": "ok", "pid": self.pid, "running": self.running,
                                  "queued": len(self.waiting)}), {})
            return
        request_id = request.header("x-request-id") or os.urandom(8).hex()
        if path.startswith(EVENTS_PREFIX):
            name = unquote(path[len(EVENTS_PREFIX):]).strip("/")
            if name not in self.handlers:
                raise HttpError(404, f"no function {name!r}")
            if request.method != "POST":
                done(405, [("Allow", "POST"), *JSON], b'{"error":"POST a CloudEvent"}', {"function": name})
                return
            event = parse_cloudevent(request)
            self._submit(name, request, request_id, lambda deadline: self._run_event(name, event, request_id,
                                                                                      deadline), done)
            return
        match = self.routes.match(request.method, path)
        if match.route is None:
            if match.allowed:
                done(405, [("Allow", ", ".join(match.allowed)), *JSON], b'{"error":"method not allowed"}', {})
            else:
                done(*_json(404, {"error": "not found"}), {})
            return
        route = match.route
        if route.auth == "key" and not self._authorized(request):
            done(401, [("WWW-Authenticate", "Bearer"), *JSON], b'{"error":"missing or wrong key"}',
                 {"function": route.function})
            return
        http_request = HttpRequest(
            request.method, unquote(path), path_params=match.params,
            query=parse_qs(request.query_string, keep_blank_values=True),
            headers=request.headers, client_ip=request.client_ip, body=request.body, raw=request,
        )
        name = route.function
        self._submit(name, request, request_id,
                     lambda deadline: self._run_http(name, http_request, request_id, deadline), done)

    def _authorized(self, request: RawRequest) -> bool:
        if self.auth_key is None:
            return False  # fail closed: the server refuses to start without a key, this is belt and braces
        given = request.header(KEY_HEADER)
        if given is None:
            auth = request.header("authorization") or ""
            if auth[:7].lower() == "bearer ":
                given = auth[7:].strip()
        if given is None:
            return False
        return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), self.auth_key)

    # ---- work that runs in handler threads ----------------------------------------------------------
    def _context(self, name: str, request_id: str, deadline: float) -> Context:
        fn = self.config.functions[name]
        return Context(name, request_id, self.config.target, memory_limit_mb=fn.memory,
                       remaining=lambda: max(0, int((deadline - time.monotonic()) * 1000)))

    def _run_http(self, name: str, request: HttpRequest, request_id: str,
                  deadline: float) -> tuple[int, list[tuple[str, str]], bytes]:
        result = handle_http(self.handlers[name], request, self._context(name, request_id, deadline))
        headers = list(result.headers)
        headers.extend(("Set-Cookie", c) for c in result.cookies)
        headers.append(("X-Request-Id", request_id))
        return result.status, headers, result.body

    def _run_event(self, name: str, event: Event, request_id: str,
                   deadline: float) -> tuple[int, list[tuple[str, str]], bytes]:
        ctx = self._context(name, request_id, deadline)
        try:
            if event.kind == "direct":
                result: HttpResult = to_result(handle_direct(self.handlers[name], event, ctx))
                return result.status, [*result.headers, ("X-Request-Id", request_id)], result.body
            failed = handle_event(self.handlers[name], event, ctx)
        except Exception:
            err = error_result(500, "handler failed; the event should be retried")
            return err.status, [*err.headers, ("X-Request-Id", request_id)], err.body
        return 200, [*JSON, ("X-Request-Id", request_id)], json.dumps({"failed": failed}).encode()

    # ---- slots, queue and timeouts ------------------------------------------------------------------
    def _submit(self, name: str, request: RawRequest, request_id: str,
                work: Callable[[float], tuple[int, list[tuple[str, str]], bytes]],
                done: Callable[..., None]) -> None:
        fn = self.config.functions[name]
        extra: dict[str, object] = {"function": name, "request_id": request_id}
        job = Job(name, work, time.monotonic() + fn.timeout, done, extra)
        self.enqueue(job)

    def enqueue(self, job: Job) -> None:
        if self.running < self.limit:
            self._start(job)
        elif len(self.waiting) < self.max_queue:
            self.waiting.append(job)
            job.timer = self.loop.call_at(self._loop_time(job.deadline), self._expire, job)
        else:
            job.finished = True
            job.done(429, [("Retry-After", "1"), *JSON], b'{"error":"too many requests"}', job.extra)

    def _loop_time(self, deadline: float) -> float:
        return self.loop.time() + (deadline - time.monotonic())

    def _start(self, job: Job) -> None:
        self.running += 1
        if job.timer is not None:
            job.timer.cancel()
        job.timer = self.loop.call_at(self._loop_time(job.deadline), self._expire, job)
        future = self.executor.submit(job.work, job.deadline)
        future.add_done_callback(lambda f: self.loop.call_soon_threadsafe(self._finished, job, f))

    def _expire(self, job: Job) -> None:
        if job.finished:
            return
        job.finished = True
        try:
            self.waiting.remove(job)  # timed out while queued: it never runs
        except ValueError:
            pass
        fn = self.config.functions[job.function]
        job.done(504, list(JSON), json.dumps({"error": f"function timed out after {fn.timeout:g} s"}).encode(),
                 {**job.extra, "timeout": True})

    def _finished(self, job: Job, future: Future[tuple[int, list[tuple[str, str]], bytes]]) -> None:
        self.running -= 1
        if job.timer is not None:
            job.timer.cancel()
        if not job.finished:
            job.finished = True
            try:
                status, headers, body = future.result()
            except Exception as exc:  # a bug below handle_http (it never raises): still answer
                self.log.event("dispatch failed", level="ERROR", error=type(exc).__name__, **job.extra)
                err = error_result(500)
                status, headers, body = err.status, err.headers, err.body
            job.done(status, headers, body, job.extra)
        while self.waiting and self.running < self.limit:
            nxt = self.waiting.popleft()
            if not nxt.finished:
                self._start(nxt)
        if self.running == 0 and self.in_flight == 0:
            self._wake_idle()

    # ---- schedules ----------------------------------------------------------------------------------
    def fire_schedule(self, name: str, index: int, due: datetime) -> None:
        sched = [s for s in self.config.schedules if s.function == name][index]
        request_id = os.urandom(8).hex()
        event = Event("schedule", id=request_id, source=f"/{self.config.target}/{self.config.service}/schedules",
                      time=rfc3339(due.timestamp()), data={"time": due.isoformat(), "name": sched.expression},
                      schedule=ScheduleInfo(due, sched.expression))
        extra: dict[str, object] = {"function": name, "request_id": request_id, "schedule": sched.expression}
        started = time.perf_counter()

        def done(status: int, headers: list[tuple[str, str]], body: bytes, extra: dict[str, object]) -> None:
            self.log.write({"level": "INFO" if status < 500 else "ERROR", "type": "schedule", "status": status,
                            "duration_ms": round((time.perf_counter() - started) * 1000, 3), **extra})

        fn = self.config.functions[name]
        job = Job(name, lambda deadline: self._run_event(name, event, request_id, deadline),
                  time.monotonic() + fn.timeout, done, extra)
        self.enqueue(job)

    # ---- drain --------------------------------------------------------------------------------------
    def _wake_idle(self) -> None:
        for waiter in self.idle_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self.idle_waiters.clear()

    async def wait_idle(self) -> None:
        while self.running or self.in_flight:
            waiter: asyncio.Future[None] = self.loop.create_future()
            self.idle_waiters.append(waiter)
            await waiter

    def stats(self) -> dict[str, Any]:
        return {"running": self.running, "queued": len(self.waiting), "in_flight": self.in_flight}
