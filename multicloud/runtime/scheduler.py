"""Schedules inside the private runtime: five-field cron (UTC) and fixed rates.

`Cron.next_after(t)` is pure and jumps field by field (month, day, hour, minute), so even a rare
expression such as `0 0 29 2 *` is found in a few hundred steps. `Scheduler` is one thread with a heap of
due times; it hands each firing to a callback (the server delivers it as a `schedule` event through the
same concurrency slots as requests, and skips a firing whose previous run is still going).
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

MONTHS = {n: i for i, n in enumerate(
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1)}
DAYS = {n: i for i, n in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}
MAX_YEARS = 5


class CronError(ValueError):
    """A cron expression the runtime cannot schedule."""


def _value(text: str, names: dict[str, int], lo: int, hi: int, expr: str) -> int:
    key = text.upper()
    if key in names:
        return names[key]
    if not (text.isascii() and text.isdigit()):
        raise CronError(f"cron {expr!r}: {text!r} is not a number or name (L, W and # are not supported)")
    value = int(text)
    if not lo <= value <= hi:
        raise CronError(f"cron {expr!r}: {value} is outside {lo}-{hi}")
    return value


def _field(text: str, lo: int, hi: int, names: dict[str, int], expr: str) -> tuple[frozenset[int], bool]:
    """Parse one field -> (allowed values, whether it was unrestricted `*`)."""
    if text in ("*", "?"):
        return frozenset(range(lo, hi + 1)), True
    out: set[int] = set()
    for part in text.split(","):
        rng, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not (step_text.isascii() and step_text.isdigit()) or int(step_text) == 0:
                raise CronError(f"cron {expr!r}: bad step {step_text!r}")
            step = int(step_text)
        if rng in ("*", "?"):
            start, end = lo, hi
        elif "-" in rng:
            a, _, b = rng.partition("-")
            start, end = _value(a, names, lo, hi, expr), _value(b, names, lo, hi, expr)
            if start > end:
                raise CronError(f"cron {expr!r}: range {rng!r} runs backwards")
        else:
            start = _value(rng, names, lo, hi, expr)
            end = hi if step_text else start
        out.update(range(start, end + 1, step))
    return frozenset(out), False


class Cron:
    """`minute hour day-of-month month day-of-week`, UTC. Day-of-week 0 or 7 is Sunday; names allowed.

    As in classic cron, when both day fields are restricted a day matches if either does.
    `L`, `W` and `#` (EventBridge/Quartz extensions) are rejected with a clear error.
    """

    def __init__(self, expr: str) -> None:
        fields = expr.split()
        if len(fields) != 5:
            raise CronError(f"cron {expr!r}: expected five fields (minute hour day month weekday)")
        self.expr = expr
        self.minutes, _ = _field(fields[0], 0, 59, {}, expr)
        self.hours, _ = _field(fields[1], 0, 23, {}, expr)
        self.mdays, self.mday_any = _field(fields[2], 1, 31, {}, expr)
        self.months, _ = _field(fields[3], 1, 12, MONTHS, expr)
        wdays, self.wday_any = _field(fields[4], 0, 7, DAYS, expr)
        self.wdays = frozenset(0 if d == 7 else d for d in wdays)

    def _day_ok(self, t: datetime) -> bool:
        cron_wday = (t.weekday() + 1) % 7  # Python: Monday 0; cron: Sunday 0
        mday_ok, wday_ok = t.day in self.mdays, cron_wday in self.wdays
        if self.mday_any or self.wday_any:
            return mday_ok and wday_ok
        return mday_ok or wday_ok

    def next_after(self, after: datetime) -> datetime:
        """The first matching minute strictly after `after` (aware datetimes; naive means UTC)."""
        if after.tzinfo is None:
            after = after.replace(tzinfo=timezone.utc)
        t = after.astimezone(timezone.utc).replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = t.replace(year=t.year + MAX_YEARS) if not (t.month == 2 and t.day == 29) else t + timedelta(
            days=365 * MAX_YEARS)
        while t < limit:
            if t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
                continue
            if not self._day_ok(t):
                t = t.replace(hour=0, minute=0) + timedelta(days=1)
                continue
            if t.hour not in self.hours:
                t = t.replace(minute=0) + timedelta(hours=1)
                continue
            if t.minute not in self.minutes:
                t += timedelta(minutes=1)
                continue
            return t
        raise CronError(f"cron {self.expr!r} never fires within {MAX_YEARS} years")


Fire = Callable[[str, int, datetime], None]  # (function, schedule index, due time UTC)


class Scheduler:
    """One thread keeps a heap of the next due time of every schedule and calls `fire` when one is due.

    `fire` must return quickly (the server starts a thread per firing). `stop()` ends the thread; it is
    called first on SIGTERM so no new run starts while the server drains.
    """

    def __init__(self, fire: Fire) -> None:
        self.fire = fire
        self._heap: list[tuple[float, int, str, int, float | None, Cron | None]] = []
        self._seq = 0
        self._cond = threading.Condition()
        self._stopped = False
        self._thread: threading.Thread | None = None

    def _push(self, due: float, function: str, index: int, rate: float | None, cron: Cron | None) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, function, index, rate, cron))

    def add_rate(self, function: str, index: int, seconds: float) -> None:
        with self._cond:
            self._push(time.time() + seconds, function, index, seconds, None)
            self._cond.notify()

    def add_cron(self, function: str, index: int, cron: Cron) -> None:
        with self._cond:
            self._push(cron.next_after(datetime.now(timezone.utc)).timestamp(), function, index, None, cron)
            self._cond.notify()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.time()):
                    wait = self._heap[0][0] - time.time() if self._heap else None
                    self._cond.wait(wait)
                if self._stopped:
                    return
                due, _, function, index, rate, cron = heapq.heappop(self._heap)
                if rate is not None:
                    # fixed rate: the next run is due one period after this one was due, not after now
                    nxt = due + rate
                    if nxt <= time.time():  # we fell behind (suspended host): skip the missed runs
                        nxt = time.time() + rate
                    self._push(nxt, function, index, rate, None)
                else:
                    assert cron is not None
                    self._push(cron.next_after(datetime.fromtimestamp(due, timezone.utc)).timestamp(),
                               function, index, None, cron)
            self.fire(function, index, datetime.fromtimestamp(due, timezone.utc))

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
