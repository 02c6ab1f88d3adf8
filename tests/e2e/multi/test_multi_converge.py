"""State lives with the deployment: two checkouts of one service (two CI runners on different machines,
no file in common) converge. Runner 2, with no `.multicloud/` folder at all, plans a no-op against what
runner 1 deployed and redeploys nothing; when runner 2 ships a change, runner 1's stale local cache does
not hide it: runner 1's plan reads the target and sees the change to undo; status, invoke and rollback from either
checkout act on what the other deployed."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from multi_support import APP, ask

from multicloud import orchestrate
from multicloud.project import Project
from multicloud.provider import Change, no_progress

pytestmark = [pytest.mark.moto, pytest.mark.docker, pytest.mark.slow]


def plan(root: Path, target: str) -> list[Change]:
    return list(orchestrate.plan(Project.load(root), target, no_progress).changes)


def pending(root: Path, target: str) -> list[Change]:
    return [c for c in plan(root, target) if c.action != "noop"]


def checkout(src: Path, dst: Path) -> Path:
    """Another runner's clone: the spec and code only, none of the first runner's local state."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".multicloud"))
    assert not (dst / ".multicloud").exists()
    return dst


@pytest.mark.parametrize("target", ["aws", "docker"])
def test_two_runners_without_shared_files_converge(service: Any, tmp_path: Path, target: str) -> None:
    one: Path = service(f"conv{target}")
    first = orchestrate.deploy(Project.load(one), target, no_progress)
    assert first.changed and ask(one, target) == (200, "hello multi")

    two = checkout(one, tmp_path / "runner-2")
    assert pending(two, target) == []  # read back from the target, not from a local file
    again = orchestrate.deploy(Project.load(two), target, no_progress)
    assert not again.changed and again.version == first.version

    (two / "app.py").write_text(APP.replace('f"hello {name}"', 'f"hi {name}"'))
    shipped = orchestrate.deploy(Project.load(two), target, no_progress)
    assert shipped.changed and shipped.version != first.version
    assert ask(one, target) == (200, "hi multi")  # runner 1 finds runner 2's deployment

    # Runner 1 still has the old code and its old cache: its plan must see that the target moved on.
    stale = pending(one, target)
    assert stale, "runner 1's plan trusted its stale local cache"
    back = orchestrate.deploy(Project.load(one), target, no_progress)
    assert back.changed and ask(two, target) == (200, "hello multi")
    assert pending(two, target) != []  # and now runner 2's checkout (newer code) differs again
    assert pending(one, target) == []
    assert orchestrate.provider_for(Project.load(two), target).status().deployed

    # Runner 2 rolls back what runner 1 deployed: the previous version is known to the target itself.
    orchestrate.provider_for(Project.load(two), target).rollback(no_progress)
    assert ask(one, target) == (200, "hi multi")
