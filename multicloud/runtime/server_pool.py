"""Concurrency slots of the private runtime: `concurrency` worker threads, a bounded wait queue, deadlines.

Handlers are plain synchronous functions, so each call runs in a worker thread while the event loop keeps
serving every other connection. A slot is a worker thread: a call waits in a queue of at most `max_queue`
(beyond it `QueueFull`, answered 429), and its function's timeout runs from arrival, queueing included.
When the deadline passes the caller answers 504 at once (`expire` resolves the future); Python cannot stop
a thread, so an overrunning handler keeps its slot until it returns, and the limit stays true to the
handlers actually running. A call that expired while still queued is skipped, never started.

Why not `loop.run_in_executor`: concurrent.futures adds a second future, a work item and callbacks per
call, and wakes a thread per call; here a call is a deque entry, threads are woken only when needed
(`WorkerPool`), and finished calls go back to the loop in batches (one `call_soon_threadsafe` for all the
calls finished since the loop last took them). Under the GIL this hand-off is the largest cost the
runtime adds per request beyond uvicorn's own work (bench/http_runtime.py). Threads start lazily and are
daemons, so a handler stuck forever never blocks the process from exiting after its drain.

Calls that run on the event loop itself (an ASGI app served natively, server_asgi; an `async def` handler,
server_app.RuntimeApp.call_here) hold slots of the same pool through `acquire`/`release`, so `concurrency`,
`max_queue`, `/healthz` and the drain count them with the threads' calls; they wait in their own queue,
which a freed slot serves first.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class QueueFull(Exception):
    """Every slot is busy and `max_queue` calls are already waiting."""


class CallTimeout(Exception):
    """The call's deadline passed (waiting for a slot or running)."""


class WorkerCrashed(Exception):
    """Something escaped the call's own error handling (SystemExit, KeyboardInterrupt, a bug)."""


class Watched(Protocol):
    """What `Deadlines` watches: a thread call's future, or a call awaited on the loop (server_app._Expiry)."""

    def done(self) -> bool: ...

    def set_exception(self, exception: BaseException, /) -> None: ...


def expire(fut: Watched) -> None:
    """Deadline timer callback: the waiting caller gets CallTimeout; the worker's result is dropped later."""
    if not fut.done():
        fut.set_exception(CallTimeout())


class Deadlines:
    """The calls' timeouts, on one loop timer instead of one per call.

    A timer per call (`loop.call_later`, then `cancel` when the call ends in time) costs about 4.5 us per
    request under uvloop, a tenth of the runtime's whole CPU per request. Here a call is a dict entry; the
    one timer is armed for the earliest deadline and, when it fires, expires every call past its deadline
    and re-arms for the next. Calls of one function arrive with ever later deadlines, so under steady load
    the timer fires about once per timeout period, and a scan covers at most the calls in flight
    (`concurrency` + `max_queue`). Expiry is exact to the loop's clock, as `call_later`'s would be.
    """

    __slots__ = ("loop", "calls", "timer", "at")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.calls: dict[Watched, float] = {}  # call -> its deadline (loop.time())
        self.timer: asyncio.TimerHandle | None = None
        self.at = math.inf  # when the timer fires

    def watch(self, fut: Watched, timeout: float) -> None:
        """`fut` fails with CallTimeout `timeout` seconds from now unless it is done (or forgotten) first."""
        when = self.loop.time() + timeout
        self.calls[fut] = when
        if when < self.at:
            self._arm(when)

    def forget(self, fut: Watched) -> None:
        self.calls.pop(fut, None)

    def _arm(self, when: float) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.at = when
        self.timer = self.loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self.timer, self.at = None, math.inf
        now, nearest = self.loop.time(), math.inf
        for fut, when in list(self.calls.items()):
            if fut.done():
                del self.calls[fut]
            elif when <= now:
                del self.calls[fut]
                expire(fut)
            elif when < nearest:
                nearest = when
        if nearest < math.inf:
            self._arm(nearest)


class _Worker:
    __slots__ = ("wake",)

    def __init__(self) -> None:
        self.wake = threading.Lock()  # held while the worker is parked; released to wake it
        self.wake.acquire()


Item = tuple[Callable[[], Any], "asyncio.Future[Any]", asyncio.AbstractEventLoop, float]
SPAWN = object()


class WorkerPool:
    """Slots, with as few threads awake as the calls need.

    Waking a parked thread costs two context switches and a GIL hand-over; a thread that finishes a call
    and finds the next one queued takes it at no cost. So a call wakes (or starts) a thread only when no
    awake thread is between calls, or when the oldest queued call has waited `wake_after` (a handler that
    blocks on I/O must not hold up the queue): fast handlers are served by one or two hot threads in
    batches, slow ones get a thread each within `wake_after`. Parked threads are woken last-in first-out,
    so the same few stay warm. Measured with 16 concurrent clients: about a fifth less CPU per request
    than waking a thread per call. A thread is woken at the end of the loop's current step (`_kick`), not
    by the `submit` that decided it: requests arrive together, and a thread woken at the first would find
    the GIL held by the loop (still taking the others), sleep on it and be woken a second time when the
    loop waits for I/O; woken after the step, it finds the GIL free. Measured: the thread hop's cost
    (against the same server running handlers inline on the loop) down by about a third in most runs, 14-15 to
    about 9.5 us per request under wrk -c16 (docs/private-runtime.md).
    """

    def __init__(self, limit: int, max_queue: int, on_crash: Callable[[BaseException], None] | None = None,
                 wake_after: float = 0.002) -> None:
        self.limit = limit
        self.max_queue = max_queue
        self.on_crash = on_crash
        self.wake_after = wake_after
        self._items: deque[Item] = deque()
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self.threads = 0
        self.awake = 0  # threads not parked: running a call, or about to look at the queue
        self.running = 0  # slots held (calls being run, by a thread or on the loop)
        self.busy = 0  # slots held by worker threads
        self.waiting = 0  # calls queued, not yet taken by a worker or given a slot on the loop
        self._async_waiting: deque[asyncio.Future[None]] = deque()  # `acquire` callers, oldest first
        self._done: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, object]]] = {}
        self._check_armed = False  # (event-loop thread only)
        self._kicks: list[_Worker | object] = []  # workers to wake once the loop's current step ends (loop only)
        self._saturated_at = time.monotonic()
        self._last_done = self._saturated_at

    def submit(self, loop: asyncio.AbstractEventLoop, work: Callable[[], T]) -> asyncio.Future[T]:
        """Queue `work` for a worker thread; the future resolves on the loop. Raises QueueFull."""
        fut: asyncio.Future[T] = loop.create_future()
        with self._lock:
            if self.running + self.waiting >= self.limit + self.max_queue:
                raise QueueFull
            now = time.monotonic()
            self._items.append((work, fut, loop, now))
            self.waiting += 1
            wake = self._take_worker(now)
        if wake is not None:
            # woken now, the worker would find the GIL held by this loop, which goes on with the other
            # requests that arrived together, and sleep again until the loop waits for I/O: woken at the
            # end of this step, it finds the GIL free (one wake-up of the thread instead of two)
            if not self._kicks:
                loop.call_soon(self._kick)
            self._kicks.append(wake)
        elif not self._check_armed:
            self._check_armed = True
            loop.call_later(self.wake_after, self._check, loop)
        return fut

    def _kick(self) -> None:
        kicks, self._kicks = self._kicks, []
        for wake in kicks:
            self._wake(wake)

    def _take_worker(self, now: float) -> _Worker | object | None:
        """(Under the lock.) A parked worker to wake, SPAWN, or None when an awake one will do."""
        if not self._items or self.awake > self.busy or self.running >= self.limit:
            return None  # nothing queued, or an awake worker is between calls: it takes the next one
        if self.awake and now - self._items[0][3] < self.wake_after:
            return None  # the awake ones may be done soon; `_check` looks again
        if self._idle:
            self.awake += 1
            return self._idle.pop()
        if self.threads < self.limit:
            self.threads += 1
            self.awake += 1
            return SPAWN
        return None

    def _wake(self, wake: _Worker | object | None) -> None:
        if isinstance(wake, _Worker):
            wake.wake.release()
        elif wake is SPAWN:
            try:
                threading.Thread(target=self._worker, name="handler", daemon=True).start()
            except RuntimeError:  # out of threads (a container's pids limit): the existing ones serve the queue
                with self._lock:
                    self.threads -= 1
                    self.awake -= 1

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        """On the loop, `wake_after` after a call was queued without waking anyone: still waiting? wake."""
        self._check_armed = False
        with self._lock:
            wake = self._take_worker(time.monotonic())
            pending = bool(self._items)
        self._wake(wake)
        if pending:
            self._check_armed = True
            loop.call_later(self.wake_after, self._check, loop)

    def _worker(self) -> None:
        me = _Worker()
        lock = self._lock
        while True:
            with lock:
                if not self._items or self.running >= self.limit:  # no call, or the loop holds the free slots
                    self.awake -= 1
                    self._idle.append(me)
                    item = None
                else:
                    item = self._items.popleft()
                    self.waiting -= 1
                    if not item[1].done():  # else: expired while queued, the caller has answered 504
                        self.busy += 1
                        self._hold()
                    else:
                        item = None
                        continue
            if item is None:
                me.wake.acquire()  # parked until `submit` or `_check` hands this worker a call
                continue
            work, fut, loop, _ = item
            outcome: tuple[asyncio.Future[Any], bool, object]
            try:
                outcome = (fut, True, work())
            except BaseException as exc:  # noqa: BLE001 - SystemExit in a handler must not end this thread
                if self.on_crash is not None:
                    self.on_crash(exc)
                outcome = (fut, False, WorkerCrashed(type(exc).__name__))
            with lock:
                self.busy -= 1
                self.running -= 1
                self._last_done = time.monotonic()
                granted = self._grant_waiter() if self._async_waiting else None
                done = self._done.get(loop)
                if done is None:
                    self._done[loop] = done = []
                done.append(outcome)
                first = len(done) == 1  # decided under the lock: exactly one delivery per batch
            if first:
                loop.call_soon_threadsafe(self._deliver, loop)
            if granted is not None:
                loop.call_soon_threadsafe(self._granted, loop, granted)

    def _deliver(self, loop: asyncio.AbstractEventLoop) -> None:
        """On the loop: resolve every call finished since the last delivery. One wake-up of the loop per
        batch, not per call: a hot worker finishes several calls while the loop is busy."""
        with self._lock:
            done = self._done.pop(loop, ())
        for fut, ok, value in done:
            if fut.done():
                continue  # answered 504 at its deadline meanwhile
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)  # type: ignore[arg-type]

    # ---- slots for calls that run on the event loop (an ASGI app served natively) --------------------
    def _hold(self) -> None:
        """(Under the lock.) One more slot held."""
        self.running += 1
        if self.running >= self.limit:
            self._saturated_at = time.monotonic()

    def _grant_waiter(self) -> asyncio.Future[None] | None:
        """(Under the lock, a slot just freed.) The oldest `acquire` waiter gets it, before queued thread calls:
        the loop's callers wait in their own queue, and a freed slot goes there first."""
        if self._async_waiting and self.running < self.limit:
            self.waiting -= 1
            self._hold()
            return self._async_waiting.popleft()
        return None

    def _granted(self, loop: asyncio.AbstractEventLoop, fut: asyncio.Future[None]) -> None:
        """On the loop: the waiter has its slot, unless its deadline passed meanwhile (then it goes back)."""
        if fut.done():
            self.release(loop)
        else:
            fut.set_result(None)

    def acquire(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[None] | None:
        """A slot for a call that runs on the loop itself (server_asgi), counted in the same `concurrency`,
        `max_queue`, `/healthz` and drain as the threads' calls. None: the slot is held now; else a future
        that resolves once it is (the caller's deadline timer may fail it first: then call `abandon`).
        Raises QueueFull. Every slot obtained is given back with `release`."""
        with self._lock:
            if self.running + self.waiting >= self.limit + self.max_queue:
                raise QueueFull
            if self.running < self.limit and not self._async_waiting:
                self._hold()
                return None
            fut: asyncio.Future[None] = loop.create_future()
            self._async_waiting.append(fut)
            self.waiting += 1
            return fut

    def abandon(self, fut: asyncio.Future[None]) -> None:
        """The caller of `acquire` stopped waiting (its deadline passed): leave the queue."""
        with self._lock:
            try:
                self._async_waiting.remove(fut)
            except ValueError:
                return  # already granted: `_granted` sees the future done and gives the slot back
            self.waiting -= 1

    def release(self, loop: asyncio.AbstractEventLoop) -> None:
        """On the loop: give an `acquire` slot back, to the next waiter on the loop or to a queued thread call."""
        with self._lock:
            self.running -= 1
            self._last_done = time.monotonic()
            granted = self._grant_waiter()
            wake = None if granted is not None else self._take_worker(time.monotonic())
            pending = bool(self._items)
        if granted is not None:
            self._granted(loop, granted)
            return
        self._wake(wake)
        if pending and wake is None and not self._check_armed:
            self._check_armed = True
            loop.call_later(self.wake_after, self._check, loop)

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
