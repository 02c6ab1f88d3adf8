"""State lives with the deployment, on azure: two checkouts of one service (two CI runners on different
machines, no file in common) converge, against the labelled FAKE of ARM and the SCM site (fake_azure.py;
not Azure) whose fake Functions host runs the published package.

Runner 2, with no `.multicloud/` folder, plans a no-op against what runner 1 deployed (the site's
`multicloud-record`/`multicloud-code` tags) and redeploys nothing; when runner 2 ships a change, runner 1's
stale local cache does not hide it. Rollback goes to the release the site's tags name as previous; its package
is kept only by a machine that deployed it, and any other checkout says so.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fake_azure import FakeAzure

from multicloud import orchestrate
from multicloud.errors import OperationError
from multicloud.project import Project
from multicloud.provider import Change, InvokeRequest, no_progress

pytestmark = pytest.mark.slow

TARGET = "azure"


def pending(root: Path) -> list[Change]:
    return [c for c in orchestrate.plan(Project.load(root), TARGET, no_progress).changes if c.action != "noop"]


def checkout(src: Path, dst: Path) -> Path:
    """Another runner's clone: the spec and code only, none of the first runner's local state."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".multicloud", "__pycache__"))
    return dst


def release(root: Path) -> object:
    """Which code answers GET /orders/7 on the deployed app (the package the fake host runs)."""
    result = orchestrate.provider_for(Project.load(root), TARGET).invoke(InvokeRequest("api", path="/orders/7"))
    assert result.status == 200, result.body
    return json.loads(result.body).get("release", 1)


def test_two_runners_without_shared_files_converge(signed_in: FakeAzure, service: Path, tmp_path: Path) -> None:
    one = service.parent
    first = orchestrate.deploy(Project.load(one), TARGET, no_progress)
    assert first.changed and release(one) == 1

    two = checkout(one, tmp_path / "runner-2")
    assert pending(two) == []  # read back from the site's tags, not from a local file
    again = orchestrate.deploy(Project.load(two), TARGET, no_progress)
    assert not again.changed and again.version == first.version

    handler = two / "handler.py"
    handler.write_text(handler.read_text().replace('{"kind": "http",', '{"kind": "http", "release": 2,'))
    shipped = orchestrate.deploy(Project.load(two), TARGET, no_progress)
    assert shipped.changed and shipped.version != first.version
    assert release(one) == 2  # runner 1 finds runner 2's deployment

    # Runner 1 still has the old code and its old cache: its plan must see that the target moved on.
    assert [c.resource for c in pending(one)] == ["code"], "runner 1's plan trusted its stale local cache"
    back = orchestrate.deploy(Project.load(one), TARGET, no_progress)
    assert back.changed and back.version == first.version and release(two) == 1
    assert [c.resource for c in pending(two)] == ["code"]  # runner 2's newer code differs again
    assert pending(one) == []
    status = orchestrate.provider_for(Project.load(two), TARGET).status()
    assert status.deployed and {f.state for f in status.functions} == {"running"}

    # Runner 2 rolls back what runner 1 deployed: the site's tags say the previous release is runner 2's,
    # whose package runner 2 kept (its local cache would have said runner 1's, which is running now).
    rolled = orchestrate.provider_for(Project.load(two), TARGET).rollback(no_progress)
    assert rolled.version == shipped.version and release(one) == 2

    # A third checkout never deployed: it knows which release came before (the tags), not its package.
    three = checkout(one, tmp_path / "runner-3")
    with pytest.raises(OperationError) as info:
        orchestrate.provider_for(Project.load(three), TARGET).rollback(no_progress)
    assert f"previous release {first.version}" in info.value.what and "not on this machine" in info.value.what
    assert "deployed it" in (info.value.fix or "")
    assert release(three) == 2  # nothing changed
