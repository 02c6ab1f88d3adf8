"""Fixtures for the gcp e2e tests: a FAKE Google Cloud (fake_gcp.py; not Google), Google's real Pub/Sub
emulator (one per session, PUBSUB_EMULATOR_HOST) and the sample service. The shared lock scenarios are
imported by name from tests/e2e/locks (`from lock_support import ...`)."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_gcp import FakeGoogleCloud
from gcp_e2e_kit import SERVICE, Deployment, open_fake
from pubsub_emulator import pubsub_emulator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "locks"))  # lock_support


@pytest.fixture(scope="session", autouse=True)
def pubsub_host() -> Iterator[str]:
    """Every gcp e2e test talks to the one emulator: queue functions' dead letters live in Pub/Sub."""
    saved = os.environ.get("PUBSUB_EMULATOR_HOST")
    with pubsub_emulator() as host:
        os.environ["PUBSUB_EMULATOR_HOST"] = host
        try:
            yield host
        finally:
            if saved is None:
                os.environ.pop("PUBSUB_EMULATOR_HOST", None)
            else:
                os.environ["PUBSUB_EMULATOR_HOST"] = saved


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGoogleCloud]:
    with open_fake(monkeypatch) as cloud:
        yield cloud


@pytest.fixture
def shop(tmp_path: Path) -> Deployment:
    dest = tmp_path / "shop"
    shutil.copytree(SERVICE, dest)
    return Deployment(dest)
