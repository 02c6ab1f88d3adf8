"""How a cell reads: health from a status report, the plan's summary, and the panels that say plainly
"not available" when a target does not implement a hook (the provider's own UnsupportedError)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from multicloud.dashboard.app import environment
from multicloud.dashboard.board import Cell, Reading, Service, load_services
from multicloud.dashboard.cache import timed
from multicloud.errors import OperationError
from multicloud.orchestrate import provider_for
from multicloud.provider import Change, FunctionStatus, Plan, Provider, StatusReport

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime.now(timezone.utc)


@pytest.fixture(scope="module")
def service() -> Service:
    (svc,) = load_services([ROOT / "examples" / "hello-http"])
    return svc


def status(deployed: bool, *states: str) -> Reading[StatusReport]:
    return Reading(StatusReport("local", deployed, tuple(FunctionStatus(f"f{i}", s, "abc") for i, s in
                                                         enumerate(states))), NOW, 0.01)


def test_health(service: Service) -> None:
    def health(reading: Reading[StatusReport] | None) -> str:
        return Cell(service, "local", reading, None).health

    assert health(None) == "reading"
    assert health(status(True, "running", "active")) == "healthy"
    assert health(status(True, "running", "exited")) == "unhealthy"
    assert health(status(True, "running", "missing")) == "unhealthy"
    assert health(status(False, "missing", "missing")) == "not-deployed"
    assert health(status(False)) == "not-deployed"
    assert health(Reading(None, NOW, 0.1, "boom")) == "unknown"
    assert health(Reading(None, NOW, 0.1, "no", True)) == "not-available"
    assert Cell(service, "local", status(True, "running", "exited"), None).unhealthy_functions == ["f1: exited"]


def test_plan_summary(service: Service) -> None:
    def summary(plan: Plan | None, **kw: object) -> tuple[str, str]:
        reading = None if plan is None else Reading(plan, NOW, 1.0)
        return Cell(service, "local", None, reading, **kw).plan_summary  # type: ignore[arg-type]

    assert summary(None) == ("pending", "not planned yet")
    assert summary(None, plan_running=True) == ("pending", "planning...")
    assert summary(Plan("local", (Change("noop", "f"),))) == ("clean", "no changes")
    assert summary(Plan("local", (Change("update", "f", "swap"), Change("noop", "g")))) == (
        "changes", "1 change(s) to deploy")
    assert summary(Plan("local", (Change("create", "f", "drift: stopped outside multicloud"),
                                  Change("update", "g")))) == ("drift", "drift: 1 of 2 change(s)")


class Bare(Provider):
    """A target (a third party's, say) that implements none of the optional hooks."""

    name = "bare"


def test_a_hook_a_target_lacks_reads_as_not_available(service: Service) -> None:
    # the base class's UnsupportedError, as every target without the hook raises it (the CLI: exit 3)
    letters = timed(lambda: Bare(service.project).dead_letters("jobs", 10))
    calls = timed(lambda: provider_for(service.project, "azure").invocations(None, NOW, 10))
    assert letters.unsupported and calls.unsupported and letters.value is None
    env = environment()
    page = env.get_template("_dead_letters.html").render(reading=letters, service=service, target="bare")
    assert 'data-dead-letters="not-available"' in page and "not available on bare yet" in page
    page = env.get_template("_metrics.html").render(reading=calls, metrics=[], recent=[], window_min=15)
    assert "invocations: not available on this target" in page
    failed = timed(lambda: (_ for _ in ()).throw(OperationError("engine gone", fix="start it")))
    assert not failed.unsupported and failed.error == "engine gone Fix: start it"


def test_templates_escape_what_targets_report(service: Service) -> None:
    nasty = "<script>alert(1)</script>"
    reading = Reading(StatusReport("local", True, (FunctionStatus("hello", "running", nasty, nasty, nasty),),
                                   {"k": nasty}), NOW, 0.01)
    cell = Cell(service, "local", reading, None, {"at": NOW.isoformat(), "by": nasty, "operation": "deploy",
                                                  "version": "v"})
    html = environment().get_template("_cell_status.html").render(cell=cell, poll_s=1.0, refresh_s=2.0)
    assert nasty not in html and "&lt;script&gt;" in html
