"""Fixtures for the `local` e2e tests (helpers live in local_harness.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from local_harness import SPEC, Deployment


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    monkeypatch.setenv("SHOP_E2E_TOKEN", "e2e-token")
    root = tmp_path / "shop"
    root.mkdir()
    (root / "multicloud.yaml").write_text(SPEC)
    dep = Deployment(root)
    dep.write("1")
    yield dep
    dep.provider.remove()  # always stop the background processes
