"""Plans on aws (moto server): applying a plan makes exactly its steps' write calls, counted on the wire
(botocore's before-call hook, `CallLog`), for a first deploy, an update, a drift repair and the removal of
triggers; and saved plans through the CLI: one saved before a hand edit or before another deploy is
refused (exit 1) naming the change, a fresh one applies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from aws_e2e_support import ALL_TRIGGERS, CallLog, build, make_sources, provider, write_service

from multicloud.plan import Plan

pytestmark = [pytest.mark.moto, pytest.mark.slow]
NAME = "shop-test-hello"


def planned_writes(plan: Plan) -> list[str]:
    return [call for step in plan.steps for call in step.calls]


def apply_counted(root: Path) -> tuple[Plan, list[str]]:
    """Plan (no write), then apply that plan: the plan and the write calls the apply made."""
    p = provider(root)
    log = CallLog(p)
    artifact = build(p)
    plan = p.plan(artifact)
    assert log.calls and log.writes == [], log.writes
    p.apply(plan, artifact)
    assert all(s.op or s.action == "noop" for s in plan.steps), [s for s in plan.steps if not s.op]
    return plan, log.writes


def test_apply_makes_exactly_the_planned_writes(moto: str, tmp_path: Path) -> None:
    make_sources()
    root = write_service(tmp_path / "svc", triggers=ALL_TRIGGERS)

    plan, writes = apply_counted(root)  # first deploy: role, function, version, alias, every trigger
    assert writes == planned_writes(plan) and "lambda:CreateFunction" in writes, writes
    assert {"scheduler:CreateSchedule", "lambda:CreateEventSourceMapping", "sqs:CreateQueue",
            "s3:PutBucketNotificationConfiguration", "lambda:CreateFunctionUrlConfig"} <= set(writes)

    write_service(root, triggers=ALL_TRIGGERS, memory=512)  # an update of the spec
    plan, writes = apply_counted(root)
    assert writes == planned_writes(plan) and "lambda:UpdateFunctionConfiguration" in writes, writes
    assert "lambda:CreateFunction" not in writes

    lam = boto3.client("lambda")  # drift: memory changed by hand, repaired by the next plan's one step
    lam.update_function_configuration(FunctionName=NAME, MemorySize=1024)
    plan, writes = apply_counted(root)
    assert [s.detail for s in plan.steps if s.drift] == ["drift: memorysize of $LATEST changed outside multicloud"]
    assert writes == planned_writes(plan) == ["lambda:UpdateFunctionConfiguration"], writes
    assert lam.get_function_configuration(FunctionName=NAME)["MemorySize"] == 512

    # removing triggers: the schedules, the stream and queue mappings, the dead-letter queue, the
    # scheduler role and the S3 notification go, each a step, each one counted write (or two, listed)
    write_service(root, triggers="- http: {path: /hello, methods: [GET]}\n", memory=512)
    plan, writes = apply_counted(root)
    assert writes == planned_writes(plan), writes
    assert {"scheduler:DeleteSchedule", "lambda:DeleteEventSourceMapping", "sqs:DeleteQueue",
            "iam:DeleteRole"} <= set(writes)

    plan, writes = apply_counted(root)  # and then nothing is left to do
    assert not plan.has_changes and writes == []


def _cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "multicloud", *args], cwd=root, capture_output=True, text=True,
                          env={**os.environ, "CI": "true"}, timeout=300)


def test_saved_plan_is_refused_after_a_hand_edit_or_another_deploy(moto: str, tmp_path: Path) -> None:
    root = write_service(tmp_path / "svc")
    saved = root / "plan.json"
    made = _cli(root, "plan", "-t", "aws", "--out", str(saved))
    assert made.returncode == 0, made.stdout + made.stderr
    doc = json.loads(saved.read_text())["targets"][0]["plan"]
    assert doc["observed"] == {f"lambda function {NAME}": "missing"} and doc["steps"][0]["op"]
    applied = _cli(root, "deploy", "-t", "aws", "--plan", str(saved))
    assert applied.returncode == 0, applied.stdout + applied.stderr

    # a plan saved before somebody else's deploy
    before = root / "before.json"
    assert _cli(root, "plan", "-t", "aws", "--out", str(before)).returncode == 0
    write_service(root, greeting="hi")
    assert _cli(root, "deploy", "-t", "aws").returncode == 0
    write_service(root)  # back to the spec of the saved plan: only the target moved on
    stale = _cli(root, "deploy", "-t", "aws", "--plan", str(before))
    assert stale.returncode == 1 and "out of date" in stale.stderr + stale.stdout
    assert f"the target's lambda function {NAME} changed since the plan" in stale.stderr + stale.stdout

    # a plan saved before a hand edit: refused, naming the drift; nothing written
    fresh = root / "fresh.json"
    assert _cli(root, "plan", "-t", "aws", "--out", str(fresh)).returncode == 0
    assert _cli(root, "deploy", "-t", "aws", "--plan", str(fresh)).returncode == 0
    again = root / "again.json"
    assert _cli(root, "plan", "-t", "aws", "--out", str(again)).returncode == 0
    lam = boto3.client("lambda")
    lam.update_function_configuration(FunctionName=NAME, MemorySize=1024)
    refused = _cli(root, "deploy", "-t", "aws", "--plan", str(again))
    out = refused.stdout + refused.stderr
    assert refused.returncode == 1 and "drift: memorysize of $LATEST changed outside multicloud" in out, out
    assert lam.get_function_configuration(FunctionName=NAME)["MemorySize"] == 1024

    repair = root / "repair.json"  # a fresh plan shows the repair and applies it
    shown = _cli(root, "plan", "-t", "aws", "--out", str(repair))
    assert "drift: memorysize" in shown.stdout, shown.stdout
    assert _cli(root, "deploy", "-t", "aws", "--plan", str(repair)).returncode == 0
    assert lam.get_function_configuration(FunctionName=NAME)["MemorySize"] == 256
