"""Locking is taken in one layer: `orchestrate.locked` (deploy, saved-plan apply, rollback, remove, and
`move` and the dashboard through orchestrate). Any other module taking `target_lock` itself fails here."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_only_orchestrate_takes_the_deploy_lock() -> None:
    takers = sorted(str(p.relative_to(ROOT)) for folder in ("multicloud", "providers")
                    for p in (ROOT / folder).rglob("*.py") if "target_lock(" in p.read_text())
    assert takers == ["multicloud/locking.py", "multicloud/orchestrate.py"], takers
