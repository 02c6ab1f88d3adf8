"""Plans on gcp: applying a plan makes exactly its steps' write calls, counted on the wire, for a first
deploy, an update, a drift repair and a removed trigger; planning makes none; and a plan saved before a
hand edit is refused by `deploy --plan`, naming the drift, while a fresh one repairs it.

The Cloud Functions, Cloud Run IAM and Cloud Scheduler control planes are the labelled FAKE
(fake_gcp.py, not Google): it records every request by method and path. Pub/Sub is Google's real
emulator, reached over gRPC: its calls are counted by a client interceptor on the channel the provider
opens (calls from the fake's own threads, which stand in for Eventarc, are left out)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from fake_gcp import FakeGoogleCloud
from gcp_e2e_kit import Deployment
from test_gcp_drift import LOC, Operator

from multicloud.plan import Plan

pytestmark = pytest.mark.slow

# (method, path pattern) of a write on the fake -> the call name the executors declare (apply.py)
REST_WRITES = (
    ("POST", r"/v2/.*/functions:generateUploadUrl", "functions:generateUploadUrl"),
    ("PUT", r"/upload/.*", "storage:upload"),
    ("POST", r"/v2/.*/functions", "functions:create"),
    ("PATCH", r"/v2/.*/functions/[^/:]+", "functions:patch"),
    ("DELETE", r"/v2/.*/functions/[^/:]+", "functions:delete"),
    ("POST", r"/v2/.*/services/[^/:]+:setIamPolicy", "run:setIamPolicy"),
    ("POST", r"/v1/.*/jobs", "scheduler:create"),
    ("PATCH", r"/v1/.*/jobs/[^/:]+", "scheduler:patch"),
    ("POST", r"/v1/.*/jobs/[^/:]+:resume", "scheduler:resume"),
    ("DELETE", r"/v1/.*/jobs/[^/:]+", "scheduler:delete"),
)
READS = ("Get", "List")


def rest_writes(fake: FakeGoogleCloud, since: int) -> list[str]:
    """The fake's requests since `since` that write, by the name their executor declares; an unknown
    write fails the test (it would be a write no step declared)."""
    out = []
    for method, path, _query in fake.requests[since:]:
        if method == "GET" or path.endswith(":getIamPolicy"):
            continue
        name = next((n for m, pattern, n in REST_WRITES if m == method and re.fullmatch(pattern, path)), None)
        out.append(name or f"UNDECLARED {method} {path}")
    return out


class GrpcLog(grpc.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Pub/Sub calls the provider makes (the test's main thread), as `pubsub:<Method>`."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        if threading.current_thread() is threading.main_thread():
            self.calls.append("pubsub:" + str(details.method).rsplit("/", 1)[1])
        return continuation(details, request)

    def writes(self, since: int) -> list[str]:
        return [c for c in self.calls[since:] if not c.split(":", 1)[1].startswith(READS)]


@pytest.fixture
def grpc_log(monkeypatch: pytest.MonkeyPatch) -> Iterator[GrpcLog]:
    log = GrpcLog()
    real = grpc.insecure_channel
    monkeypatch.setattr(grpc, "insecure_channel",
                        lambda *a, **k: grpc.intercept_channel(real(*a, **k), log))
    yield log


def planned(plan: Plan, pubsub: bool) -> list[str]:
    return [c for s in plan.steps for c in s.calls if c.startswith("pubsub:") == pubsub]


def apply_counted(fake: FakeGoogleCloud, log: GrpcLog, shop: Deployment) -> tuple[Plan, list[str], list[str]]:
    """Plan (no write), then apply that plan: the plan and the REST and Pub/Sub writes the apply made."""
    provider = shop.provider
    build = shop.build()
    rest, rpc = len(fake.requests), len(log.calls)
    plan = provider.plan(build)
    assert rest_writes(fake, rest) == [] and log.writes(rpc) == []  # planning reads only
    assert len(fake.requests) > rest  # ...and it did read
    assert all(s.op or s.action == "noop" for s in plan.steps), [s for s in plan.steps if not s.op]
    rest, rpc = len(fake.requests), len(log.calls)
    provider.apply(plan, build)
    return plan, rest_writes(fake, rest), log.writes(rpc)


def test_apply_makes_exactly_the_planned_writes(fake: FakeGoogleCloud, shop: Deployment, grpc_log: GrpcLog) -> None:
    operator = Operator(fake)

    plan, rest, rpc = apply_counted(fake, grpc_log, shop)  # first deploy: every resource
    assert rest == planned(plan, False) and rpc == planned(plan, True), (rest, rpc)
    assert rest.count("functions:create") == 6 and rest.count("storage:upload") == 6
    assert {"run:setIamPolicy", "scheduler:create"} <= set(rest)
    assert rpc == ["pubsub:CreateTopic", "pubsub:CreateSubscription", "pubsub:UpdateSubscription"]

    shop.edit("GREETING: hello", "GREETING: bonjour")  # an update of the spec: one patch
    plan, rest, rpc = apply_counted(fake, grpc_log, shop)
    assert rest == planned(plan, False) == ["functions:patch"] and rpc == [], (rest, rpc)
    step = next(s for s in plan.steps if s.action != "noop")
    env = next(f for f in step.fields if f.name == "service_config.environment_variables")
    assert env.secret and "hello" not in repr(step) and "bonjour" not in repr(step)

    # drift: memory and a label changed by hand; the plan says so and one patch repairs both
    operator.patch_function("shop-api", ["service_config.available_memory", "labels"],
                            service_config={"available_memory": "1Gi"},
                            labels={**fake.functions[f"{LOC}/functions/shop-api"]["labels"], "team": "edited"})
    plan, rest, rpc = apply_counted(fake, grpc_log, shop)
    assert [s.detail for s in plan.steps if s.drift] == [
        "drift: labels, service_config.available_memory changed outside multicloud"]
    assert rest == planned(plan, False) == ["functions:patch"] and rpc == [], (rest, rpc)
    api = fake.functions[f"{LOC}/functions/shop-api"]
    assert api["serviceConfig"]["availableMemory"] == "512Mi" and api["labels"]["team"] == "payments"

    # removed triggers: api's schedule (its job goes) and orders' queue (an event function becomes a
    # direct one: replaced; its dead-letter topic and subscription go)
    shop.edit("      - schedule: {rate: 15m}\n", "")
    shop.edit("    triggers:\n      - queue: {name: orders}\n", "")
    plan, rest, rpc = apply_counted(fake, grpc_log, shop)
    assert rest == planned(plan, False) and rpc == planned(plan, True), (rest, rpc)
    assert {"scheduler:delete", "functions:delete", "functions:create"} <= set(rest)
    assert rpc == ["pubsub:DeleteSubscription", "pubsub:DeleteTopic"]
    assert f"{LOC}/jobs/shop-api-0" not in fake.jobs

    plan, rest, rpc = apply_counted(fake, grpc_log, shop)  # and then nothing is left to do
    assert not plan.has_changes and rest == rpc == []


def _cli(shop: Deployment, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "multicloud", *args], cwd=shop.root, capture_output=True, text=True,
                          env={**os.environ, "CI": "true"}, timeout=300)


def test_saved_plan_is_refused_after_a_hand_edit_and_a_fresh_one_repairs(fake: FakeGoogleCloud,
                                                                         shop: Deployment, tmp_path: Path) -> None:
    # the plan files live outside the service folder: everything in it ships in the source zip
    saved = tmp_path / "plan.json"
    made = _cli(shop, "plan", "-t", "gcp", "--out", str(saved))
    assert made.returncode == 0, made.stdout + made.stderr
    assert "s3cr3t" not in saved.read_text() and "api-key" not in saved.read_text()
    applied = _cli(shop, "deploy", "-t", "gcp", "--plan", str(saved))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert len(fake.functions) == 6

    before = tmp_path / "before.json"  # saved, then somebody edits the memory by hand
    assert _cli(shop, "plan", "-t", "gcp", "--out", str(before)).returncode == 0
    Operator(fake).patch_function("shop-api", ["service_config.available_memory"],
                                  service_config={"available_memory": "1Gi"})
    writes = len(rest_writes(fake, 0))
    refused = _cli(shop, "deploy", "-t", "gcp", "--plan", str(before))
    out = refused.stdout + refused.stderr
    assert refused.returncode == 1 and "out of date" in out, out
    assert "drift: service_config.available_memory changed outside multicloud" in out, out
    assert "the target's function shop-api changed since the plan" in out, out
    # nothing applied: the only writes are the deploy lock's (its Cloud Storage object, taken and released)
    assert [w for w in rest_writes(fake, 0)[writes:] if "/storage/v1/b/shop-test-1-multicloud/" not in w] == []
    assert fake.functions[f"{LOC}/functions/shop-api"]["serviceConfig"]["availableMemory"] == "1Gi"

    repair = tmp_path / "repair.json"  # a fresh plan shows the repair and applies it
    shown = _cli(shop, "plan", "-t", "gcp", "--out", str(repair))
    assert "drift: service_config.available_memory" in shown.stdout, shown.stdout
    done = _cli(shop, "deploy", "-t", "gcp", "--plan", str(repair))
    assert done.returncode == 0, done.stdout + done.stderr
    assert fake.functions[f"{LOC}/functions/shop-api"]["serviceConfig"]["availableMemory"] == "512Mi"
