"""`validate` rejects whatever the private runtime would reject when it starts.

Every error the runtime's config parser (`multicloud/runtime/server_config.py`) and its cron parser
(`multicloud/runtime/scheduler.py`) can raise is enumerated from their source. Each is either reachable
from a spec, and then a spec that reaches it fails `validate` (exit 2, located) while the runtime really
raises that error for the config such a spec would give; or it cannot be reached from a spec (what
the builder writes by construction), and then a property test shows that no spec the model accepts
makes the runtime raise anything. A new `raise` in either parser fails `test_every_raise_site_is_listed`
until it is classified here.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from multicloud.cli.app import app
from multicloud.errors import SpecError
from multicloud.private_runtime import BrokerAccess, runtime_config
from multicloud.project import Project
from multicloud.runtime import scheduler, server_config
from multicloud.runtime.scheduler import Cron, CronError
from multicloud.runtime.server_config import ConfigError, parse_config
from multicloud.spec.loader import parse_spec_located

RUNTIME = Path(server_config.__file__).parent
BROKER = BrokerAccess(("nats://127.0.0.1:4222",), "file:/run/broker-password")  # as a provider gives it


def config_of(**function: object) -> dict[str, object]:
    """A runtime.json as the builder writes it, with one function's fields replaced."""
    fn = {"handler": "h.m", "timeout": 3, "memory": 128, "env": {}, "secrets": {}, "http": [], "schedules": [],
          **function}
    return {"format": 1, "service": "s", "target": "local", "paths": ["app"], "functions": {"f": fn},
            "auth": {}, "limits": {"concurrency": 4, "max_body_bytes": 1024}}


def cron_raises(expr: str) -> None:
    Cron(expr).next_after(datetime(2026, 1, 1, tzinfo=timezone.utc))


def parse_raises(**function: object) -> Callable[[], None]:
    return lambda: parse_config(config_of(**function), Path("."))


# message fragment of a raise site -> (spec trigger that reaches it, proof that the runtime raises) or
# the reason no spec can reach it
REACHABLE: dict[str, tuple[str, Callable[[], None]]] = {
    "is not a number or name": ("schedule: {cron: '0 0 L * *'}", lambda: cron_raises("0 0 L * *")),
    "is outside": ("schedule: {cron: '61 * * * *'}", lambda: cron_raises("61 * * * *")),
    "bad step": ("schedule: {cron: '*/0 * * * *'}", lambda: cron_raises("*/0 * * * *")),
    "runs backwards": ("schedule: {cron: '0 9-5 * * *'}", lambda: cron_raises("0 9-5 * * *")),
    "expected five fields": ("schedule: {cron: '0 0 * * * *'}", lambda: cron_raises("0 0 * * * *")),
    "never fires within": ("schedule: {cron: '0 0 31 2 *'}", lambda: cron_raises("0 0 31 2 *")),
    "must be a positive number": ("schedule: {rate: 0m}",
                                  parse_raises(schedules=[{"rate_seconds": 0, "expression": "0m"}])),
    "bad path": ("http: {path: 'orders'}", parse_raises(http=[{"path": "orders", "methods": ["GET"]}])),
}
UNREACHABLE: dict[str, str] = {
    "missing key": "the builder writes every required key (runtime_config)",
    "expected {getattr": "types come from the validated model (ints, strings)",
    "expected a map of strings": "env and secrets are validated str -> str maps",
    "the top level must be an object": "the builder writes an object",
    "is not supported (expected": "the builder writes format 1",
    "expected an object": "each function is an object; limits an object",
    "is not module.function": "the model's handler pattern requires module.function",
    "expected none or key": "auth is a Literal['none', 'key'] in the model",
    "give exactly one of rate_seconds or cron": "ScheduleTrigger requires exactly one of rate or cron",
    "unknown keys": "the builder writes only known limits",
    "concurrency must be >= 1": "targets.*.concurrency >= 1 and max_body_mb > 0 in the model",
    "must be positive numbers of seconds": "the builder writes no timeout limits (only concurrency and "
                                           "max_body_bytes): the runtime's positive defaults apply",
    "must be a reference": "auth keys are env:/file: references (DockerSettings.auth_key pattern, local file:); "
                           "the broker's password reference is written by the provider (file:)",
    "expected a list of nats:// URLs": "the provider writes its broker's URLs (broker.topology.runtime_section)",
    "no function": "subscriptions are made from the spec's own functions (broker.topology.topology)",
    "expected queue, stream or storage": "subscription kinds are the trigger kinds that read a broker",
    "a positive integer or null": "QueueTrigger.max_attempts is 1-100 in the model; streams write null",
    "batch_size: must be >= 1": "batch_size is >= 1 in the model (storage: 10)",
    "not found": "load_config reads the file the builder wrote",
    "style must be one of": "style and http_payload are Literals in the model (Function.style, .http_payload)",
    "cannot read": "load_config reads the file the builder wrote",
    "the HTTP intake": "broker.intake is written by the builder (broker.topology.runtime_section): a file: "
                       "reference the provider gives, channels of the spec's own queues and streams",
}


def raise_sites(path: Path, error: str) -> list[str]:
    """The literal text of each `raise <error>(...)` message in `path`."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and \
                getattr(node.exc.func, "id", None) == error:
            out.append(ast.unparse(node.exc.args[0]) if node.exc.args else "")
    return out


SITES = raise_sites(RUNTIME / "server_config.py", "ConfigError") + raise_sites(RUNTIME / "scheduler.py", "CronError")


def test_every_raise_site_is_listed() -> None:
    assert len(SITES) >= 20, SITES
    known = list(REACHABLE) + list(UNREACHABLE)
    unlisted = [site for site in SITES if not any(fragment in site for fragment in known)]
    assert not unlisted, f"classify these runtime errors in this test: {unlisted}"
    for fragment in known:
        assert any(fragment in site for site in SITES), f"{fragment!r} matches no raise site any more"


SPEC = "service: par\nfunctions:\n  f:\n    handler: h.m\n    triggers:\n      - {trigger}\n"


@pytest.mark.parametrize("fragment", sorted(REACHABLE))
def test_reachable_runtime_errors_fail_validate_first(fragment: str, tmp_path: Path) -> None:
    trigger, probe = REACHABLE[fragment]
    with pytest.raises((ConfigError, CronError)) as raised:
        probe()  # the runtime really refuses this
    assert fragment in str(raised.value)
    (tmp_path / "h.py").write_text("def m(event, context):\n    return 1\n")
    (tmp_path / "multicloud.yaml").write_text(SPEC.format(trigger=trigger))
    result = CliRunner().invoke(app, ["validate", str(tmp_path), "--target", "local,docker,aws,gcp"])
    assert result.exit_code == 2, result.output
    assert f"{tmp_path / 'multicloud.yaml'}:6:" in result.output.splitlines()[0], result.output


# ---- no spec the model accepts makes the runtime raise ------------------------------------------------
SEGMENT = st.one_of(st.from_regex(r"[a-z0-9._~-]{0,6}", fullmatch=True),
                    st.from_regex(r"\{[a-z_][a-z0-9_]{0,4}\+?\}", fullmatch=True))
PATHS = st.lists(SEGMENT, min_size=0, max_size=4).map(lambda parts: "/" + "/".join(parts))
CRON_FIELD = st.one_of(st.sampled_from(["*", "?", "*/5", "1-5", "0", "7", "MON-FRI", "JAN", "1,15", "L", "5-3",
                                        "*/0", "60", "32", "13", "W", "1#2", ""]),
                       st.from_regex(r"[0-9*/,\-]{1,6}", fullmatch=True))
CRONS = st.lists(CRON_FIELD, min_size=4, max_size=6).map(" ".join)
RATES = st.one_of(st.from_regex(r"[0-9]{1,7}(m|h|d|min|hours|days)", fullmatch=True), st.sampled_from(["0m", "1m"]))
TRIGGERS = st.one_of(
    st.builds(lambda p, m, a: {"http": {"path": p, "methods": m, "auth": a}}, PATHS,
              st.lists(st.sampled_from(["GET", "POST", "put", "HEAD"]), min_size=1, max_size=3),
              st.sampled_from(["none", "key"])),
    st.builds(lambda c: {"schedule": {"cron": c}}, CRONS),
    st.builds(lambda r: {"schedule": {"rate": r}}, RATES),
    st.just({"queue": {"name": "q"}}),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(TRIGGERS, min_size=1, max_size=4), st.integers(1, 50), st.floats(0.001, 2000),
       st.sampled_from(["env:K", "file:/run/k", {"local": "env:K", "docker": "env:K"}]))
def test_no_model_valid_spec_makes_the_runtime_raise(triggers: list[dict[str, object]], concurrency: int,
                                                     max_body: float, secret: object) -> None:
    doc = {"service": "prop", "functions": {"f": {"handler": "h.m", "triggers": triggers, "secrets": {"S": secret}}},
           "targets": {"local": {"concurrency": concurrency, "max_body_mb": max_body}}}
    try:
        spec, marks = parse_spec_located(yaml.safe_dump(doc), "prop.yaml")
    except SpecError:
        event("refused by the model")
        return  # the model refuses it, with a location: fine
    project = Project(spec, Path("/nonexistent/multicloud.yaml"), marks)
    if _route_clash(project):
        return
    event("accepted by the model")
    for target in ("local", "docker"):
        config = runtime_config(project, target, auth_key_ref="env:MULTICLOUD_AUTH_KEY", broker=BROKER)
        parsed = parse_config(json.loads(json.dumps(config)), Path("."))
        for schedule in parsed.schedules:
            if schedule.cron is not None:
                Cron(schedule.cron).next_after(datetime(2026, 1, 1, tzinfo=timezone.utc))


def _route_clash(project: Project) -> bool:
    from multicloud.spec.checks import check_project

    return any("route" in e.what for e in check_project(project.spec, Path("/nonexistent"), project.locate))


def test_scheduler_module_is_the_one_validate_uses() -> None:
    """The spec model parses cron with the runtime's own class, not a copy that could drift."""
    import multicloud.spec.models as models

    assert "from multicloud.runtime.scheduler import Cron" in Path(models.__file__).read_text()
    assert scheduler.Cron is Cron
