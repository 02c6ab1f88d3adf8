"""Fixtures for the gcp e2e tests: a FAKE Google Cloud (fake_gcp.py; not Google) and the sample service.
The shared lock scenarios are imported by name from tests/e2e/locks (`from lock_support import ...`)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_gcp import FakeGoogleCloud
from gcp_e2e_kit import SERVICE, Deployment, open_fake

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "locks"))  # lock_support


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGoogleCloud]:
    with open_fake(monkeypatch) as cloud:
        yield cloud


@pytest.fixture
def shop(tmp_path: Path) -> Deployment:
    dest = tmp_path / "shop"
    shutil.copytree(SERVICE, dest)
    return Deployment(dest)
