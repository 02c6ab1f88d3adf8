"""Counting the Docker SDK's writes on the wire, for the plan tests: every POST/PUT/DELETE the APIClient
sends, named after the engine operation the executor table (providers/docker/apply.py) declares. A `docker
exec` counts as the write `haproxy:set server` when it switches HAProxy's servers, and as a read when it
probes health or runs a `show` command."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from multicloud.plan import Plan

ROUTES = [  # (method, path pattern) -> the engine operation, as apply.py's table names it
    ("POST", r"/containers/create", "containers.create"),
    ("POST", r"/containers/[^/]+/start", "containers.start"),
    ("POST", r"/containers/[^/]+/stop", "containers.stop"),
    ("POST", r"/containers/[^/]+/kill", "containers.kill"),
    ("PUT", r"/containers/[^/]+/archive", "containers.put_archive"),
    ("DELETE", r"/containers/[^/]+", "containers.remove"),
    ("POST", r"/networks/create", "networks.create"),
    ("POST", r"/volumes/create", "volumes.create"),
    ("DELETE", r"/volumes/[^/]+", "volumes.remove"),
    ("POST", r"/images/create", "images.pull"),
    ("POST", r"/services/create", "services.create"),
    ("POST", r"/services/[^/]+/update", "services.update"),
    ("DELETE", r"/services/[^/]+", "services.remove"),
    ("POST", r"/secrets/create", "secrets.create"),
    ("DELETE", r"/secrets/[^/]+", "secrets.remove"),
]


class WireLog:
    """Every write request the Docker SDK sends to the engine, in order."""

    def __init__(self) -> None:
        self.writes: list[str] = []
        self.requests = 0

    def record(self, method: str, url: str, kwargs: dict[str, Any]) -> None:
        self.requests += 1
        path = re.sub(r"^.*?/v1\.\d+", "", url.split("?")[0])
        if method == "POST" and re.fullmatch(r"/containers/[^/]+/exec", path):
            if "set server" in str(kwargs.get("data", "")):
                self.writes.append("haproxy:set server")
            return  # health probes and HAProxy `show` commands change nothing
        if method == "POST" and re.fullmatch(r"/exec/[^/]+/(start|resize|json)", path):
            return  # the second half of an exec (counted at its creation)
        for verb, pattern, name in ROUTES:
            if verb == method and re.fullmatch(pattern, path):
                self.writes.append(name)
                return
        self.writes.append(f"{method} {path}")  # an unexpected write: fails the comparison, named


def patch(monkeypatch: Any) -> WireLog:
    """Count every write the SDK's APIClient sends from now on (undone with `monkeypatch`)."""
    from docker.api.client import APIClient

    log = WireLog()
    for method in ("POST", "PUT", "DELETE"):
        original = getattr(APIClient, f"_{method.lower()}")

        def counted(self: Any, url: str, *args: Any, _original: Any = original, _method: str = method,
                    **kwargs: Any) -> Any:
            log.record(_method, url, kwargs)
            return _original(self, url, *args, **kwargs)

        monkeypatch.setattr(APIClient, f"_{method.lower()}", counted)
    return log


def planned(plan: Plan) -> list[str]:
    return [call for step in plan.steps for call in step.calls]


def apply_counted(d: Any, wire: WireLog) -> tuple[Plan, list[str]]:
    """Build, plan (no write), then apply exactly that plan: the plan and the writes the apply made."""
    d.reload()
    build = d.build()
    wire.writes.clear()
    plan = d.provider.plan(build)
    assert wire.writes == [], wire.writes
    assert all(s.op or s.action == "noop" for s in plan.steps), plan.steps
    result = d.provider.apply(plan, build)
    d.url = result.details["url"]
    return plan, list(wire.writes)


def cli(spec: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`multicloud ARGS SPEC` as a user runs it (a separate process, CI=true), from the spec's folder."""
    return subprocess.run([sys.executable, "-m", "multicloud", *args, str(spec)], cwd=spec.parent,
                          capture_output=True, text=True, env={**os.environ, "CI": "true"}, timeout=timeout)
