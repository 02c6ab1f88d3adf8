"""The runtime's cron parser and next-fire computation (pure) and the route table."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from multicloud.runtime.scheduler import Cron, CronError
from multicloud.runtime.server_config import Route
from multicloud.runtime.server_routes import RouteTable

UTC = timezone.utc


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(("expr", "after", "expected"), [
    ("* * * * *", at(2026, 1, 1, 0, 0), at(2026, 1, 1, 0, 1)),
    ("0 * * * *", at(2026, 1, 1, 0, 0), at(2026, 1, 1, 1, 0)),
    ("*/15 * * * *", at(2026, 1, 1, 0, 14, 59), at(2026, 1, 1, 0, 15)),
    ("30 2 * * *", at(2026, 1, 1, 3, 0), at(2026, 1, 2, 2, 30)),
    ("0 0 1 * *", at(2026, 1, 31, 12, 0), at(2026, 2, 1, 0, 0)),
    ("0 0 29 2 *", at(2026, 3, 1, 0, 0), at(2028, 2, 29, 0, 0)),  # next leap day
    ("0 9 * * MON-FRI", at(2026, 11, 21, 10, 0), at(2026, 11, 23, 9, 0)),  # Saturday -> Monday
    ("0 9 * * 0", at(2026, 11, 21, 10, 0), at(2026, 11, 22, 9, 0)),  # Sunday as 0
    ("0 9 * * 7", at(2026, 11, 21, 10, 0), at(2026, 11, 22, 9, 0)),  # Sunday as 7
    ("0 0 13 * FRI", at(2026, 11, 1, 0, 0), at(2026, 11, 6, 0, 0)),  # both restricted: either matches
    ("15,45 8-10/2 * JAN,DEC *", at(2026, 6, 1), at(2026, 12, 1, 8, 15)),
    ("0 12 * * ?", at(2026, 1, 1, 12, 0), at(2026, 1, 2, 12, 0)),
])
def test_next_after(expr: str, after: datetime, expected: datetime) -> None:
    assert Cron(expr).next_after(after) == expected


@pytest.mark.parametrize("expr", ["* * * *", "61 * * * *", "* 24 * * *", "0 0 L * *", "0 0 ? * 5#3",
                                  "*/0 * * * *", "5-1 * * * *", "0 0 31 2 *", "x * * * *"])
def test_bad_cron_is_rejected(expr: str) -> None:
    with pytest.raises(CronError):
        Cron(expr).next_after(at(2026, 1, 1))


@settings(max_examples=200, deadline=None)
@given(minute=st.integers(0, 59), hour=st.integers(0, 23),
       start=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1)))
def test_daily_cron_fires_within_a_day_at_the_right_time(minute: int, hour: int, start: datetime) -> None:
    nxt = Cron(f"{minute} {hour} * * *").next_after(start)
    start_utc = start.replace(tzinfo=UTC)
    assert nxt > start_utc and (nxt - start_utc).total_seconds() <= 86400
    assert (nxt.hour, nxt.minute, nxt.second) == (hour, minute, 0)


def test_routes_params_greedy_and_methods() -> None:
    table = RouteTable((
        Route("static", "/orders", ("GET",), "none"),
        Route("one", "/orders/{id}", ("GET", "DELETE"), "none"),
        Route("files", "/files/{path+}", ("GET",), "none"),
        Route("root", "/", ("GET",), "none"),
    ))
    assert table.match("GET", "/orders").route.function == "static"  # type: ignore[union-attr]
    assert table.match("GET", "/orders/").route.function == "static"  # type: ignore[union-attr]
    m = table.match("DELETE", "/orders/a%2Fb")
    assert m.route is not None and m.route.function == "one" and m.params == {"id": "a/b"}
    m = table.match("GET", "/files/a/b/c.txt")
    assert m.route is not None and m.params == {"path": "a/b/c.txt"}
    assert table.match("HEAD", "/orders/1").route is not None
    m = table.match("POST", "/orders/1")
    assert m.route is None and m.allowed == ("GET", "DELETE")
    assert table.match("GET", "/orders/1/extra").route is None
    assert table.match("GET", "/").route.function == "root"  # type: ignore[union-attr]


def test_scheduler_thread_fires_rate_and_cron_in_order() -> None:
    import threading
    import time
    from datetime import timedelta

    from multicloud.runtime.scheduler import Scheduler

    class SecondCron(Cron):
        """A real Cron whose grain is shortened to 0.3 s so the thread can be watched firing."""

        def next_after(self, after: datetime) -> datetime:
            return after + timedelta(seconds=0.3)

    fired: list[tuple[str, int, datetime]] = []
    lock = threading.Lock()

    def fire(function: str, index: int, due: datetime) -> None:
        with lock:
            fired.append((function, index, due))

    sched = Scheduler(fire)
    sched.add_rate("fast", 0, 0.1)
    sched.add_cron("slow", 0, SecondCron("* * * * *"))
    sched.start()
    time.sleep(1.05)
    sched.stop()
    count = len(fired)
    time.sleep(0.3)
    assert len(fired) == count  # nothing after stop
    fast = [due for fn, _, due in fired if fn == "fast"]
    slow = [due for fn, _, due in fired if fn == "slow"]
    assert 5 <= len(fast) <= 11 and 1 <= len(slow) <= 4  # loose: a loaded machine may delay the thread
    gaps = [(b - a).total_seconds() for a, b in zip(fast, fast[1:], strict=False)]
    assert all(abs(g - 0.1) < 1e-5 for g in gaps)  # fixed rate: due times do not drift
    assert all(d.tzinfo is not None for _, _, d in fired)
