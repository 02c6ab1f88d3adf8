"""State lives with the deployment, on gcp: two checkouts of one service (two CI runners on different
machines, no file in common) converge, against the labelled FAKE of the Google REST APIs (fake_gcp.py; not
Google), which runs each uploaded zip with the real functions-framework (`serve=True`).

Runner 2, with no `.multicloud/` folder, plans a no-op against what runner 1 deployed (each function's
`multicloud-source` label and managed fields) and redeploys nothing; when runner 2 ships a change, runner
1's stale local cache does not hide it; status and invoke from either checkout act on what was deployed.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_gcp import FakeGoogleCloud
from gcp_e2e_kit import SERVICE, open_fake

from multicloud import orchestrate
from multicloud.errors import UnsupportedError
from multicloud.project import Project
from multicloud.provider import Change, InvokeRequest, no_progress

pytestmark = pytest.mark.slow

TARGET = "gcp"


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGoogleCloud]:
    with open_fake(monkeypatch, serve=True) as cloud:
        yield cloud


def pending(root: Path) -> list[Change]:
    return [c for c in orchestrate.plan(Project.load(root), TARGET, no_progress).changes if c.action != "noop"]


def release(root: Path) -> object:
    """Which code answers GET /orders/7 (the uploaded zip the fake serves)."""
    result = orchestrate.provider_for(Project.load(root), TARGET).invoke(InvokeRequest("api", path="/orders/7"))
    assert result.status == 200, result.body
    return json.loads(result.body).get("release", 1)


def test_two_runners_without_shared_files_converge(served: FakeGoogleCloud, tmp_path: Path) -> None:
    one = tmp_path / "runner-1"
    shutil.copytree(SERVICE, one)
    first = orchestrate.deploy(Project.load(one), TARGET, no_progress)
    assert first.changed and release(one) == 1

    two = tmp_path / "runner-2"  # another runner's clone: the spec and code only, no `.multicloud/`
    shutil.copytree(one, two, ignore=shutil.ignore_patterns(".multicloud", "__pycache__"))
    assert pending(two) == []  # read back from the functions' labels, not from a local file
    before = len(served.mutations())
    again = orchestrate.deploy(Project.load(two), TARGET, no_progress)
    assert not again.changed and again.version == first.version
    assert [m for m in served.mutations()[before:] if "/storage/" not in m[1]] == []  # only the lock wrote

    handlers = two / "gcp_shop_handlers.py"
    handlers.write_text(handlers.read_text().replace('"kind": event.kind,\n    }',
                                                     '"kind": event.kind,\n        "release": 2,\n    }'))
    shipped = orchestrate.deploy(Project.load(two), TARGET, no_progress)
    assert shipped.changed and shipped.version != first.version
    assert release(one) == 2  # runner 1 finds runner 2's deployment (its own cache names old URLs)

    # Runner 1 still has the old code and its old cache: its plan must see that the target moved on.
    stale = pending(one)
    assert stale and {c.resource for c in stale} == {f"function shop-{f}" for f in
                                                     ("api", "uploads", "uploads-gone", "orders", "nightly", "class")}
    back = orchestrate.deploy(Project.load(one), TARGET, no_progress)
    assert back.changed and back.version == first.version and release(two) == 1
    assert pending(two) != []  # runner 2's newer code differs again
    assert pending(one) == []
    status = orchestrate.provider_for(Project.load(two), TARGET).status()
    assert status.deployed and {f.state for f in status.functions} == {"active"}
    assert {(f.version or "")[:12] for f in status.functions} == {first.version}  # the labels runner 1 set

    with pytest.raises(UnsupportedError):  # gcp has no rollback, from any checkout (exit 3)
        orchestrate.provider_for(Project.load(two), TARGET).rollback(no_progress)
