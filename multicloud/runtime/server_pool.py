"""Concurrency slots of the private runtime: `concurrency` worker threads, a bounded wait queue, deadlines.

Handlers are plain synchronous functions, so each call runs in a worker thread while the event loop keeps
serving every other connection. A slot is a worker thread: a call waits in a queue of at most `max_queue`
(beyond it `QueueFull`, answered 429), and its function's timeout runs from arrival, queueing included.
When the deadline passes the caller answers 504 at once (`expire` resolves the future); Python cannot stop
a thread, so an overrunning handler keeps its slot until it returns, and the limit stays true to the
handlers actually running. A call that expired while still queued is skipped, never started.

Why not `loop.run_in_executor`: concurrent.futures adds a second future, a work item and callbacks per
call; a `SimpleQueue` (C) and one `call_soon_threadsafe` are what the hand-off needs, and under the GIL
this hand-off is most of what the runtime costs per request beyond uvicorn's own work (measured in
bench/http_runtime.py). Threads start lazily and are daemons, so a handler stuck forever never blocks
the process from exiting after its drain.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class QueueFull(Exception):
    """Every slot is busy and `max_queue` calls are already waiting."""


class CallTimeout(Exception):
    """The call's deadline passed (waiting for a slot or running)."""


class WorkerCrashed(Exception):
    """Something escaped the call's own error handling (SystemExit, KeyboardInterrupt, a bug)."""


def _resolve(fut: asyncio.Future[Any], value: object) -> None:
    if not fut.done():
        fut.set_result(value)


def _fail(fut: asyncio.Future[Any], exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)


def expire(fut: asyncio.Future[Any]) -> None:
    """Deadline timer callback: the waiting caller gets CallTimeout; the worker's result is dropped later."""
    if not fut.done():
        fut.set_exception(CallTimeout())


class WorkerPool:
    def __init__(self, limit: int, max_queue: int, on_crash: Callable[[BaseException], None] | None = None) -> None:
        self.limit = limit
        self.max_queue = max_queue
        self.on_crash = on_crash
        self._queue: queue.SimpleQueue[tuple[Callable[[], Any], asyncio.Future[Any], asyncio.AbstractEventLoop]] = (
            queue.SimpleQueue())
        self._lock = threading.Lock()
        self.threads = 0
        self.running = 0  # slots held (calls being run)
        self.waiting = 0  # calls queued, not yet taken by a worker
        self._saturated_at = time.monotonic()
        self._last_done = self._saturated_at

    def submit(self, loop: asyncio.AbstractEventLoop, work: Callable[[], T]) -> asyncio.Future[T]:
        """Queue `work` for a worker thread; the future resolves on the loop. Raises QueueFull."""
        with self._lock:
            if self.running + self.waiting >= self.limit + self.max_queue:
                raise QueueFull
            self.waiting += 1
            spawn = self.threads < self.limit and self.threads - self.running < self.waiting
            if spawn:
                self.threads += 1
        fut: asyncio.Future[T] = loop.create_future()
        self._queue.put((work, fut, loop))
        if spawn:
            try:
                threading.Thread(target=self._worker, name="handler", daemon=True).start()
            except RuntimeError:  # out of threads (a container's pids limit): the existing ones serve the queue
                with self._lock:
                    self.threads -= 1
        return fut

    def _worker(self) -> None:
        get, lock = self._queue.get, self._lock
        while True:
            work, fut, loop = get()
            with lock:
                self.waiting -= 1
                if fut.done():  # expired while queued: the caller has answered 504 already
                    continue
                self.running += 1
                if self.running >= self.limit:
                    self._saturated_at = time.monotonic()
            try:
                result = work()
            except BaseException as exc:  # noqa: BLE001 - SystemExit in a handler must not end this thread
                if self.on_crash is not None:
                    self.on_crash(exc)
                loop.call_soon_threadsafe(_fail, fut, WorkerCrashed(type(exc).__name__))
            else:
                loop.call_soon_threadsafe(_resolve, fut, result)
            finally:
                with lock:
                    self.running -= 1
                    self._last_done = time.monotonic()

    def stuck_for(self, now: float) -> float:
        """Seconds since a slot was last free or a call last finished; 0 while a slot is free."""
        with self._lock:
            if self.running < self.limit:
                return 0.0
            return now - max(self._saturated_at, self._last_done)

    async def wait_idle(self, deadline: float) -> bool:
        """Until no call runs or waits (True), or until `deadline` (time.monotonic) passes (False)."""
        while self.running or self.waiting:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True
