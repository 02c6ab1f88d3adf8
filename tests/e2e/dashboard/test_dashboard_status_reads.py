"""The backend never runs more than one status read per target at a time, however many pages poll and
however often actions nudge it, while different targets are read concurrently; plans run concurrently
too, never twice at once for one cell. Counted around the real reads: local services (deployed), and the
same services read from the engine (docker) and from moto (aws), where they are not deployed."""

from __future__ import annotations

import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from dashboard_support import deploy, fetch, remove_everywhere, wait_for, write_service

from multicloud.dashboard.app import Dashboard, Settings
from multicloud.dashboard.board import Service, load_services
from multicloud.dashboard.cache import PlanCache, StatusCache, make_plan
from multicloud.dashboard.server import Background
from multicloud.provider import Plan, Provider, StatusReport

pytestmark = [pytest.mark.slow, pytest.mark.docker, pytest.mark.moto]
TARGETS = ("local", "docker", "aws")


class InFlight:
    """Counts calls in flight per key and overall; remembers the highest counts seen."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.total = 0
        self.total_peak = 0

    def around(self, key: str, work: Any, hold_s: float) -> Any:
        with self.lock:
            self.now[key] += 1
            self.calls[key] += 1
            self.peak[key] = max(self.peak[key], self.now[key])
            self.total += 1
            self.total_peak = max(self.total_peak, self.total)
        try:
            time.sleep(hold_s)  # widen the window in which an overlapping read would be caught
            return work()
        finally:
            with self.lock:
                self.now[key] -= 1
                self.total -= 1


@pytest.fixture(scope="module")
def roots(moto_endpoint: str, engine: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Path]]:
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")).read()
    base = tmp_path_factory.mktemp("reads")
    made = [write_service(base / f"s{i}", f"reads{i}", targets=TARGETS) for i in range(4)]
    for root in made[:2]:
        deploy(root, "local")
    yield made
    for root in made:
        remove_everywhere(root, ("local",))


def test_one_status_read_per_target_at_a_time_under_load(roots: list[Path]) -> None:
    services = load_services(roots)
    counted = InFlight()

    def read(provider: Provider) -> StatusReport:
        return counted.around(provider.name, provider.status, 0.03)  # type: ignore[no-any-return]

    status = StatusCache(services, refresh_s=0.2, read=read)
    dash = Dashboard(services, Settings(refresh_s=0.2, plans=False), token=None, csrf="t", status=status)
    server = Background(dash).start()
    try:
        wait_for(lambda: all(status.cycles[t] >= 1 for t in TARGETS), 60, "a first round on every target")
        key = services[0].key
        paths = ["", "fragments/matrix", "api/board", *(f"s/{key}/{t}/status" for t in TARGETS)]
        stop = time.monotonic() + 6

        def pages() -> int:
            n = 0
            while time.monotonic() < stop:
                for path in paths:
                    assert fetch(server.url + path).status == 200
                    n += 1
            return n

        def nudges() -> None:  # what every action does afterwards: start the next round now
            while time.monotonic() < stop:
                status.nudge()
                time.sleep(0.005)

        with ThreadPoolExecutor(10) as pool:
            fetched = [pool.submit(pages) for _ in range(8)]
            kicks = [pool.submit(nudges) for _ in range(2)]
            served = sum(f.result() for f in fetched)
            for k in kicks:
                k.result()
    finally:
        server.stop()
    print(f"pages served {served}; status reads {dict(counted.calls)}; peak in flight per target "
          f"{dict(counted.peak)}, overall {counted.total_peak}")
    assert served > 100
    assert set(counted.calls) == set(TARGETS) and min(counted.calls.values()) >= 4 * 3
    assert dict(counted.peak) == dict.fromkeys(TARGETS, 1)  # never two reads of one target at once
    assert counted.total_peak >= 2  # ... while targets are read side by side
    readings = {t: status.get((services[0].key, t)) for t in TARGETS}
    assert readings["local"] is not None and readings["local"].value is not None
    assert readings["local"].value.deployed  # real reads: local runs, docker and aws have nothing yet
    assert readings["docker"] is not None and readings["docker"].value is not None
    assert not readings["docker"].value.deployed
    assert readings["aws"] is not None and readings["aws"].value is not None
    assert [f.state for f in readings["aws"].value.functions] == ["missing", "missing"]


def test_plans_run_concurrently_but_never_twice_for_one_cell(roots: list[Path]) -> None:
    services = [Service(s.key, s.project, ("local",)) for s in load_services(roots)]
    counted = InFlight()

    def plan(service: Service, target: str) -> Plan:
        return counted.around(f"{service.key}/{target}", lambda: make_plan(service, target), 0.2)  # type: ignore[no-any-return]

    plans = PlanCache(services, interval_s=0, workers=3, plan=plan)
    plans.start()
    try:
        end = time.monotonic() + 3
        while time.monotonic() < end:  # pages and actions asking for plans again and again
            plans.request()
            plans.request((services[0].key, "local"))
            time.sleep(0.01)
        wait_for(lambda: not any(plans.running(k) for k in plans.keys()), 60, "the plans to finish")
    finally:
        plans.stop()
    print(f"plans run {dict(counted.calls)}; peak in flight overall {counted.total_peak}")
    assert set(counted.peak.values()) == {1}  # one cell is never planned twice at once
    assert counted.total_peak == 3  # the pool's three workers plan different cells side by side
    for service in services:
        reading = plans.get((service.key, "local"))
        assert reading is not None and reading.value is not None and reading.read_at is not None
    deployed = {services[0].key, services[1].key}
    for service in services:
        changes = plans.get((service.key, "local")).value.changes  # type: ignore[union-attr]
        assert all(c.action == ("noop" if service.key in deployed else "create") for c in changes), changes
