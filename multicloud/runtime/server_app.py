"""Request dispatch of the private runtime: routes, auth, concurrency slots, timeouts.

The handler runs in the connection's own thread (server_conn). A call first takes one of `concurrency`
slots, waiting in a queue of at most `max_queue` (beyond it: 429). The function's timeout runs from
arrival, queueing included; when it passes, the watchdog answers 504 at once and the connection closes.
Python cannot stop a thread, so an overrunning handler keeps its slot until it returns: the limit stays
true to the handlers actually running.
"""

from __future__ import annotations

import hmac
import itertools
import json
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from urllib.parse import parse_qs, unquote

from multicloud.runtime.context import Context, Logger
from multicloud.runtime.events import Event, ScheduleInfo
from multicloud.runtime.http import HttpRequest, error_result, to_result
from multicloud.runtime.invoke import handle_direct, handle_event, handle_http, rfc3339
from multicloud.runtime.server_config import RuntimeConfig
from multicloud.runtime.server_conn import Connection
from multicloud.runtime.server_events import parse_cloudevent, storage_notifications
from multicloud.runtime.server_http import HttpError, RawRequest
from multicloud.runtime.server_log import JsonLog
from multicloud.runtime.server_routes import RouteTable

JSON = [("Content-Type", "application/json")]
EVENTS_PREFIX = "/_events/"
KEY_HEADER = "x-multicloud-key"
WATCHDOG_TICK = 0.05
REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:\-]{1,128}")  # a caller's X-Request-Id is kept only if it is tame
Answer = tuple[int, list[tuple[str, str]], bytes]


class QueueFull(Exception):
    pass


class Slots:
    """At most `limit` handlers at once; at most `max_queue` callers waiting for a slot."""

    def __init__(self, limit: int, max_queue: int) -> None:
        self.limit = limit
        self.max_queue = max_queue
        self.cond = threading.Condition(threading.Lock())
        self.running = 0
        self.waiting = 0

    def acquire(self, deadline: float) -> bool:
        """True with a slot; False when the deadline passed first; QueueFull when the queue is full."""
        with self.cond:
            if self.running < self.limit and not self.waiting:
                self.running += 1
                return True
            if self.waiting >= self.max_queue:
                raise QueueFull
            self.waiting += 1
            try:
                while self.running >= self.limit:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self.cond.wait(remaining)
                self.running += 1
                return True
            finally:
                self.waiting -= 1

    def release(self) -> None:
        with self.cond:
            self.running -= 1
            if self.waiting:
                self.cond.notify()
            elif self.running == 0:
                self.cond.notify_all()  # wakes wait_idle

    def wait_idle(self, deadline: float) -> bool:
        with self.cond:
            while self.running or self.waiting:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.cond.wait(min(remaining, 0.1))
            return True


class Watch:
    __slots__ = ("deadline", "conn", "request", "function", "timeout", "extra", "done")

    def __init__(self, deadline: float, conn: Connection, request: RawRequest, function: str, timeout: float,
                 extra: dict[str, object]) -> None:
        self.deadline = deadline
        self.conn = conn
        self.request = request
        self.function = function
        self.timeout = timeout
        self.extra = extra
        self.done = False


class Watchdog:
    """Answers 504 for calls past their deadline. One FIFO per timeout value: arrival order is deadline
    order, so each check only looks at the heads (no heap, no per-request wake-up)."""

    def __init__(self) -> None:
        self.queues: dict[float, deque[Watch]] = {}
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="watchdog", daemon=True)

    def watch(self, item: Watch) -> None:
        queue = self.queues.get(item.timeout)
        if queue is None:
            queue = self.queues.setdefault(item.timeout, deque())
        queue.append(item)

    def _run(self) -> None:
        while not self.stopped.wait(WATCHDOG_TICK):
            now = time.monotonic()
            for queue in list(self.queues.values()):
                while queue and (queue[0].done or queue[0].deadline <= now):
                    item = queue.popleft()
                    if not item.done:
                        item.done = True
                        body = json.dumps({"error": f"function timed out after {item.timeout:g} s"}).encode()
                        item.conn.answer(item.request, 504, list(JSON), body, {**item.extra, "timeout": True},
                                         close=True)


class RuntimeApp:
    def __init__(self, config: RuntimeConfig, handlers: dict[str, Callable[..., object]], auth_key: str | None,
                 log: JsonLog) -> None:
        self.config = config
        self.handlers = handlers
        self.auth_key = auth_key.encode() if auth_key is not None else None
        self.log = log
        self.routes = RouteTable(config.routes)
        self.key_functions = frozenset(r.function for r in config.routes if r.auth == "key")
        self.slots = Slots(config.limits.concurrency, config.limits.max_queue)
        self.watchdog = Watchdog()
        self.watchdog.thread.start()
        self.draining = False
        self.pid = os.getpid()
        self._id_prefix = os.urandom(6).hex()
        self._ids = itertools.count(1)
        self._schedule_busy: set[tuple[str, int]] = set()
        self.logger = Logger()  # handlers' base logger (level read once from MULTICLOUD_LOG_LEVEL)

    def request_id(self) -> str:
        """Unique per process start (random prefix) and cheap: no system call per request."""
        return f"{self._id_prefix}-{next(self._ids):x}"

    # ---- called by server_conn ---------------------------------------------------------------------
    def access(self, request: RawRequest | None, status: int, size: int, extra: dict[str, object]) -> None:
        if request is None:
            self.log.write({"level": "INFO" if status < 500 else "ERROR", "type": "access", "status": status,
                            "bytes": size, **extra})
            return
        # a matched route is logged by its template (/records/{patient}), never the values in the path
        self.log.access(request.method, request.route or request.path, status, size, request.client_ip,
                        (time.perf_counter() - request.started) * 1000, extra)

    def handle(self, conn: Connection, request: RawRequest) -> bool:
        """Answer one request; returns whether the connection stays open."""
        try:
            return self._route(conn, request)
        except HttpError as err:
            return conn.answer(request, err.status, list(JSON), json.dumps({"error": err.message}).encode(), {},
                               close=err.status == 400)

    def _route(self, conn: Connection, request: RawRequest) -> bool:
        path = request.path
        if path == "/healthz":
            if self.draining:
                return conn.answer(request, 503, list(JSON), b'{"status":"draining"}', {})
            body = json.dumps({"status": "ok", "pid": self.pid, "running": self.slots.running,
                               "queued": self.slots.waiting}).encode()
            return conn.answer(request, 200, list(JSON), body, {})
        given_id = request.header("x-request-id")
        request_id = given_id if given_id and REQUEST_ID_RE.fullmatch(given_id) else self.request_id()
        if path.startswith(EVENTS_PREFIX):
            name = unquote(path[len(EVENTS_PREFIX):]).strip("/")
            if name not in self.handlers:
                raise HttpError(404, f"no function {name!r}")
            if request.method != "POST":
                return conn.answer(request, 405, [("Allow", "POST"), *JSON], b'{"error":"POST a CloudEvent"}',
                                   {"function": name})
            if name in self.key_functions and not self._authorized(request):
                # a function behind `auth: key` must not be reachable keyless through its events endpoint
                return conn.answer(request, 401, [("WWW-Authenticate", "Bearer"), *JSON],
                                   b'{"error":"missing or wrong key"}', {"function": name})
            notifications = storage_notifications(request, self.config, name)
            if notifications is not None:  # a bucket notification POSTed by MinIO or Ceph RGW (webhook)
                return self._call(conn, request, name, request_id,
                                  lambda deadline: self._run_events(name, notifications, request_id, deadline))
            event = parse_cloudevent(request)
            return self._call(conn, request, name, request_id,
                              lambda deadline: self._run_event(name, event, request_id, deadline))
        match = self.routes.match(request.method, path)
        route = match.route
        if route is None:
            if match.allowed:
                return conn.answer(request, 405, [("Allow", ", ".join(match.allowed)), *JSON],
                                   b'{"error":"method not allowed"}', {})
            return conn.answer(request, 404, list(JSON), b'{"error":"not found"}', {})
        request.route = route.path
        if route.auth == "key" and not self._authorized(request):
            return conn.answer(request, 401, [("WWW-Authenticate", "Bearer"), *JSON],
                               b'{"error":"missing or wrong key"}', {"function": route.function})
        http_request = HttpRequest(
            request.method, unquote(path), path_params=match.params,
            query=parse_qs(request.query_string, keep_blank_values=True) if request.query_string else {},
            headers=request.headers, client_ip=request.client_ip, body=request.body, raw=request,
        )
        name = route.function
        return self._call(conn, request, name, request_id,
                          lambda deadline: self._run_http(name, http_request, request_id, deadline))

    def _authorized(self, request: RawRequest) -> bool:
        if self.auth_key is None:
            return False  # fail closed (the server also refuses to start without a key)
        given = request.header(KEY_HEADER)
        if given is None:
            auth = request.header("authorization") or ""
            if auth[:7].lower() == "bearer ":
                given = auth[7:].strip()
        if given is None:
            return False
        return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), self.auth_key)

    # ---- one call: slot, watchdog, handler ----------------------------------------------------------
    def _call(self, conn: Connection, request: RawRequest, name: str, request_id: str,
              work: Callable[[float], Answer]) -> bool:
        timeout = self.config.functions[name].timeout
        deadline = time.monotonic() + timeout
        extra: dict[str, object] = {"function": name, "request_id": request_id}
        try:
            got = self.slots.acquire(deadline)
        except QueueFull:
            return conn.answer(request, 429, [("Retry-After", "1"), *JSON], b'{"error":"too many requests"}', extra)
        if not got:
            body = json.dumps({"error": f"function timed out after {timeout:g} s waiting for a slot"}).encode()
            return conn.answer(request, 504, list(JSON), body, {**extra, "timeout": True}, close=True)
        watch = Watch(deadline, conn, request, name, timeout, extra)
        self.watchdog.watch(watch)
        try:
            status, headers, body = work(deadline)
        except Exception as exc:  # below handle_http, which never raises: still answer
            self.log.event("dispatch failed", level="ERROR", error=type(exc).__name__, **extra)
            err = error_result(500)
            status, headers, body = err.status, err.headers, err.body
        finally:
            self.slots.release()
        watch.done = True
        return conn.answer(request, status, headers, body, extra)

    def _context(self, name: str, request_id: str, deadline: float) -> Context:
        return Context(name, request_id, self.config.target, memory_limit_mb=self.config.functions[name].memory,
                       remaining=lambda: max(0, int((deadline - time.monotonic()) * 1000)), logger=self.logger)

    def _run_http(self, name: str, request: HttpRequest, request_id: str, deadline: float) -> Answer:
        result = handle_http(self.handlers[name], request, self._context(name, request_id, deadline))
        headers = result.headers
        for cookie in result.cookies:
            headers.append(("Set-Cookie", cookie))
        headers.append(("X-Request-Id", request_id))
        return result.status, headers, result.body

    def _run_event(self, name: str, event: Event, request_id: str, deadline: float) -> Answer:
        ctx = self._context(name, request_id, deadline)
        try:
            if event.kind == "direct":
                result = to_result(handle_direct(self.handlers[name], event, ctx))
                return result.status, [*result.headers, ("X-Request-Id", request_id)], result.body
            failed = handle_event(self.handlers[name], event, ctx)
        except Exception:
            err = error_result(500, "handler failed; the event should be retried")
            return err.status, [*err.headers, ("X-Request-Id", request_id)], err.body
        return 200, [*JSON, ("X-Request-Id", request_id)], json.dumps({"failed": failed}).encode()

    def _run_events(self, name: str, events: list[Event], request_id: str, deadline: float) -> Answer:
        """Several storage events from one notification, in order; the first failure answers (MinIO retries)."""
        for event in events:
            answer = self._run_event(name, event, request_id, deadline)
            if answer[0] != 200:
                return answer
        return 200, [*JSON, ("X-Request-Id", request_id)], json.dumps({"handled": len(events)}).encode()

    # ---- broker batches (called from the event consumer's thread pool, server_broker.py) ----------------
    def run_batch(self, name: str, event: Event) -> tuple[list[str] | None, str | None]:
        """Run a queue/stream/storage event under a concurrency slot and the function's timeout.
        Returns (failed ids, None), or (None, why) when the whole batch failed."""
        request_id = event.id
        deadline = time.monotonic() + self.config.functions[name].timeout
        try:
            if not self.slots.acquire(deadline):
                return None, "timed out waiting for a concurrency slot"
        except QueueFull:
            return None, "too many calls waiting for a concurrency slot"
        try:
            failed = handle_event(self.handlers[name], event, self._context(name, request_id, deadline))
        except Exception as exc:  # handle_event logged the traceback
            return None, f"{type(exc).__name__}: {exc}"
        finally:
            self.slots.release()
        if time.monotonic() > deadline:
            return None, f"the function timed out after {self.config.functions[name].timeout:g} s"
        return failed, None

    # ---- schedules (called from the scheduler thread) -----------------------------------------------
    def fire_schedule(self, name: str, index: int, due: datetime) -> None:
        key = (name, index)
        sched = [s for s in self.config.schedules if s.function == name][index]
        if self.draining:
            return
        if key in self._schedule_busy:
            self.log.write({"level": "WARNING", "type": "schedule", "function": name, "schedule": sched.expression,
                            "skipped": "the previous run is still going"})
            return
        self._schedule_busy.add(key)
        request_id = self.request_id()
        event = Event("schedule", id=request_id, source=f"/{self.config.target}/{self.config.service}/schedules",
                      time=rfc3339(due.timestamp()), data={"time": due.isoformat(), "name": sched.expression},
                      schedule=ScheduleInfo(due, sched.expression))
        timeout = self.config.functions[name].timeout

        def run() -> None:
            started = time.perf_counter()
            deadline = time.monotonic() + timeout
            status = 504
            try:
                if self.slots.acquire(deadline):
                    try:
                        status = self._run_event(name, event, request_id, deadline)[0]
                    finally:
                        self.slots.release()
            except QueueFull:
                status = 429
            finally:
                self._schedule_busy.discard(key)
            if status == 200 and time.monotonic() > deadline:
                status = 504
            self.log.write({"level": "INFO" if status == 200 else "ERROR", "type": "schedule", "status": status,
                            "function": name, "request_id": request_id, "schedule": sched.expression,
                            "duration_ms": round((time.perf_counter() - started) * 1000, 3)})

        threading.Thread(target=run, name=f"schedule-{name}-{index}", daemon=True).start()
