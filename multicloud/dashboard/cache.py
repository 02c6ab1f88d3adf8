"""Background reads of every target, so pages render from memory and never wait on a cloud.

* `StatusCache`: one worker thread per target (aws, docker, ...). It reads the status of each watched
  service on its target in turn, then sleeps until the next refresh (or until an action nudges it). So the
  backend never runs more than one status read per target at a time, however many pages poll, and a
  slow target (a cloud API) never holds up a fast one (local).
* `PlanCache`: `plan` (build + compare with what runs) of every service and target on a small thread pool,
  concurrently, on start, every `interval_s` and on demand; a cell is never planned twice at once.
* `OnDemand`: a value per key computed when a page asks, kept `ttl_s`, computed once however many pages
  ask at the same moment (the function metrics of a cell).

Every value is kept as a `Reading` with the time it was read and, when the read failed, why.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import TypeVar

from multicloud.dashboard.board import Reading, Service
from multicloud.errors import MulticloudError, UnsupportedError
from multicloud.provider import Plan, Provider, StatusReport

T = TypeVar("T")
Key = tuple[str, str]  # (service key, target)
ReadStatus = Callable[[Provider], StatusReport]
MakePlan = Callable[[Service, str], Plan]


def timed(work: Callable[[], T]) -> Reading[T]:
    """Run one read; its value, or the error a page shows in its place (never a traceback)."""
    start = time.perf_counter()
    try:
        value = work()
    except UnsupportedError as exc:
        return Reading(None, datetime.now(timezone.utc), time.perf_counter() - start, exc.message, True)
    except MulticloudError as exc:
        return Reading(None, datetime.now(timezone.utc), time.perf_counter() - start, exc.message)
    except Exception as exc:  # noqa: BLE001 - an SDK error the provider does not translate: shown, not raised
        return Reading(None, datetime.now(timezone.utc), time.perf_counter() - start,
                       f"{type(exc).__name__}: {exc}"[:500])
    return Reading(value, datetime.now(timezone.utc), time.perf_counter() - start)


def read_status(provider: Provider) -> StatusReport:
    return provider.status()


def make_plan(service: Service, target: str) -> Plan:
    from multicloud.orchestrate import plan

    return plan(service.project, target, lambda _message: None)


class StatusCache:
    def __init__(self, services: list[Service], refresh_s: float, read: ReadStatus = read_status) -> None:
        from multicloud.orchestrate import provider_for

        self.services = services
        self.refresh_s = refresh_s
        self._read = read
        self._provider_for = provider_for
        self._readings: dict[Key, Reading[StatusReport]] = {}
        self.targets = sorted({t for s in services for t in s.targets})
        self._wake = {t: threading.Event() for t in self.targets}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.cycles = dict.fromkeys(self.targets, 0)  # completed rounds per target (tests wait on these)

    def start(self) -> None:
        for target in self.targets:
            thread = threading.Thread(target=self._run, args=(target,), name=f"status-{target}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for event in self._wake.values():
            event.set()
        for thread in self._threads:
            thread.join(timeout)  # a read stuck on a cloud API is a daemon thread: it dies with the process

    def nudge(self, target: str | None = None) -> None:
        """Start the next round now (after an action changed what runs), not at the next refresh."""
        for name, event in self._wake.items():
            if target is None or name == target:
                event.set()

    def get(self, key: Key) -> Reading[StatusReport] | None:
        return self._readings.get(key)

    def _run(self, target: str) -> None:
        services = [s for s in self.services if target in s.targets]
        providers: dict[str, Provider] = {}  # one per service, used by this thread only (SDK clients reused)
        while not self._stop.is_set():
            started = time.monotonic()
            self._wake[target].clear()
            for service in services:
                if self._stop.is_set():
                    return
                provider = providers.get(service.key)
                if provider is None:
                    provider = providers[service.key] = self._provider_for(service.project, target)
                self._readings[(service.key, target)] = timed(lambda p=provider: self._read(p))  # type: ignore[misc]
            self.cycles[target] += 1
            self._wake[target].wait(max(0.0, self.refresh_s - (time.monotonic() - started)))


class PlanCache:
    def __init__(self, services: list[Service], interval_s: float, workers: int = 2,
                 plan: MakePlan = make_plan) -> None:
        self.services = {s.key: s for s in services}
        self.interval_s = interval_s
        self._plan = plan
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="plan")
        self._readings: dict[Key, Reading[Plan]] = {}
        self._running: set[Key] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None

    def keys(self) -> list[Key]:
        return [(s.key, t) for s in self.services.values() for t in s.targets]

    def start(self) -> None:
        self.request()
        if self.interval_s > 0:
            self._timer = threading.Thread(target=self._every, name="plan-timer", daemon=True)
            self._timer.start()

    def stop(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _every(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.request()

    def request(self, key: Key | None = None) -> None:
        """Plan one cell (or all) in the background, unless it is being planned already."""
        for k in [key] if key is not None else self.keys():
            with self._lock:
                if k in self._running or self._stop.is_set() or k[0] not in self.services:
                    continue
                self._running.add(k)
            try:
                self._pool.submit(self._one, k)
            except RuntimeError:  # shut down meanwhile
                with self._lock:
                    self._running.discard(k)

    def _one(self, key: Key) -> None:
        try:
            self._readings[key] = timed(lambda: self._plan(self.services[key[0]], key[1]))
        finally:
            with self._lock:
                self._running.discard(key)

    def get(self, key: Key) -> Reading[Plan] | None:
        return self._readings.get(key)

    def running(self, key: Key) -> bool:
        return key in self._running


class OnDemand:
    """Values computed when asked, kept `ttl_s`; concurrent askers of one key share one computation."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._values: dict[object, tuple[float, object]] = {}
        self._locks: dict[object, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: object, compute: Callable[[], T]) -> T:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            hit = self._values.get(key)
            if hit is not None and time.monotonic() - hit[0] < self.ttl_s:
                return hit[1]  # type: ignore[return-value]
            value = compute()
            self._values[key] = (time.monotonic(), value)
            return value

    def forget(self, key: object) -> None:
        self._values.pop(key, None)
