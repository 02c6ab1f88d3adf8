"""`multicloud deploy --target local,docker,aws`: one spec, three targets deployed concurrently through
the real CLI, each answering the same request the same way; and one target failing while the others
deploy and serve (exit 1, the summary says which)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from multi_support import TARGETS, ask, cli

pytestmark = [pytest.mark.moto, pytest.mark.docker, pytest.mark.slow]


def test_one_spec_deployed_to_three_targets_answers_the_same(service: Any) -> None:
    root: Path = service("three")
    run = cli("-o", "json", "deploy", str(root), "--target", ",".join(TARGETS), cwd=root)
    assert run.returncode == 0, run.stdout + run.stderr
    data = json.loads(run.stdout)
    assert data["ok"] is True
    assert [t["target"] for t in data["targets"]] == list(TARGETS)
    for summary in data["targets"]:
        assert summary["ok"] is True, summary
        assert summary["version"] and summary["duration_s"] > 0
        assert [e["function"] for e in summary["endpoints"]] == ["hello"], summary
        assert summary["endpoints"][0]["url"].startswith("http"), summary
    answers = {t: ask(root, t) for t in TARGETS}
    assert answers == {t: (200, "hello multi") for t in TARGETS}


def test_one_target_failing_leaves_the_others_deployed(service: Any) -> None:
    root: Path = service("onefails", base_image="multicloud/no-such-base:0")
    run = cli("-o", "json", "deploy", str(root), "--target", ",".join(TARGETS), cwd=root)
    assert run.returncode == 1, run.stdout + run.stderr
    data = json.loads(run.stdout)
    assert data["ok"] is False
    by_target = {t["target"]: t for t in data["targets"]}
    assert list(by_target) == list(TARGETS)
    assert by_target["docker"]["ok"] is False
    assert "multicloud/no-such-base:0" in by_target["docker"]["error"]["message"], by_target["docker"]
    assert "endpoints" not in by_target["docker"]
    for target in ("local", "aws"):
        assert by_target[target]["ok"] is True, by_target[target]
        assert by_target[target]["endpoints"][0]["function"] == "hello"
        assert ask(root, target) == (200, "hello multi")
    names = [f["FunctionName"] for f in boto3.client("lambda").list_functions()["Functions"]]
    assert len(names) == 1 and names[0].endswith("-test-hello"), names
