"""`multicloud move --from aws --to local` of a queue service: the source is moto's SQS queue and Lambda
(its event source mapping really runs the handler in the Lambda emulation container), the destination is
the local target's real nats-server. The source's `pending` is read from SQS; a dead letter on the source
stops the move before it removes anything; once it is purged the move probes the local consumer (the
handler never sees the probe), finds SQS empty, removes aws, and names the NATS subject producers use now."""

from __future__ import annotations

import json
import os
import textwrap
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from multi_support import cli

from multicloud import orchestrate
from multicloud.errors import OperationError
from multicloud.move import move_service
from multicloud.project import Project

pytestmark = [pytest.mark.moto, pytest.mark.docker, pytest.mark.slow]

APP = '''
def work(event, context):
    for m in event.messages:
        if m.text == "poison":
            raise ValueError("cannot handle poison")
        print("handled", m.text, "on", context.target)
'''


@pytest.fixture
def root(tmp_path: Path, moto: str, lambda_images: None) -> Any:
    from multicloud.providers.local.broker import find_binary

    if find_binary() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but nats-server is missing; .ci/run installs Debian's nats-server package")
        pytest.skip("nats-server is not installed (apt-get install nats-server)")
    root = tmp_path / "svc"
    root.mkdir()
    (root / "app.py").write_text(APP)
    (root / "multicloud.yaml").write_text(textwrap.dedent("""\
        service: movejobs
        runtime: python3.11
        functions:
          work:
            handler: app.work
            timeout: 10
            triggers:
              - queue: {name: jobs, max_attempts: 2}
        targets:
          aws: {stage: test}
          local: {}
        """))
    yield root
    for target in ("local", "aws"):
        try:
            orchestrate.provider_for(Project.load(root), target).remove()
        except Exception:  # noqa: BLE001 - the move removed it already
            pass


def aws_lines(root: Path, needle: str, count: int, timeout: float = 60) -> list[str]:
    provider = orchestrate.provider_for(Project.load(root), "aws")
    deadline = time.monotonic() + timeout
    while True:
        lines = [r.message for r in provider.logs("work", None, False)]
        if sum(needle in line for line in lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.5)


def test_move_from_aws_waits_for_sqs_refuses_to_drop_dead_letters_then_moves(root: Path) -> None:
    boto3.client("sqs").create_queue(QueueName="jobs")
    assert cli("deploy", str(root), "-t", "aws", cwd=root).returncode == 0
    aws = orchestrate.provider_for(Project.load(root), "aws")
    # the source consumes: moto's mapping receives on each arrival and runs the handler; poison fails twice
    for body in ("poison", "ok-1", "ok-2"):
        assert cli("send", str(root), "-t", "aws", "--queue", "jobs", "-d", body, cwd=root).returncode == 0
    lines = aws_lines(root, "handled ok-2", 1)
    assert any("handled ok-1 on aws" in line for line in lines), lines
    assert aws.pending("jobs") == 0 and [d.body for d in aws.dead_letters("jobs")] == [b"poison"]

    progress: list[str] = []
    with pytest.raises(OperationError) as info:
        move_service(Project.load(root), "aws", "local", progress.append, drain_s=0, drain_timeout=30)
    assert "holds dead letters of jobs" in info.value.what and "nothing" in info.value.what, info.value.what
    assert "dead-letters" in (info.value.fix or "")
    assert aws.status().deployed and orchestrate.provider_for(Project.load(root), "local").status().deployed
    assert "local consumes: queue jobs -> work" in progress, progress

    assert cli("dead-letters", str(root), "-t", "aws", "--purge", "--yes", cwd=root).returncode == 0
    moved = cli("-o", "json", "move", str(root), "--from", "aws", "--to", "local", "--drain-timeout", "60", cwd=root)
    assert moved.returncode == 0, moved.stdout + moved.stderr
    result = json.loads(moved.stdout)
    assert result["events"]["probed"] == ["queue jobs -> work"]
    assert result["events"]["drained"]["jobs"].startswith("empty after")
    [producers] = result["events"]["producers"]
    assert producers["address"] == "mc.movejobs.queue.jobs" and producers["broker"].startswith("nats://127.0.0.1:")
    assert boto3.client("lambda").list_functions()["Functions"] == []
    assert not aws.status().deployed
    # producers send there now; the local handler runs, and never ran for the probe
    assert cli("send", str(root), "-t", "local", "--queue", "jobs", "-d", "after-move", cwd=root).returncode == 0
    local = orchestrate.provider_for(Project.load(root), "local")
    deadline = time.monotonic() + 30
    while local.pending("jobs") != 0 and time.monotonic() < deadline:
        time.sleep(0.3)
    log = [r.message for r in local.logs("work", None, False)]
    assert any("probe acknowledged without calling the handler" in line for line in log), log
    assert local.pending("jobs") == 0
