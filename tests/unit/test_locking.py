"""The deploy lock's flow (multicloud.locking) over the default lock store, a file beside the spec: the
holder's heartbeat renews the expiry, an expired lock is taken over by the next run and only that exact
lock is broken, a live one is refused with who holds it and when it expires."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from multicloud.errors import LockedError, UsageError
from multicloud.locking import describe, lock_ttl, new_owner, target_lock
from multicloud.project import Project
from multicloud.provider import LockInfo, Provider


class FileLocked(Provider):
    name = "local"


@pytest.fixture
def provider(tmp_path: Path) -> Provider:
    (tmp_path / "app.py").write_text("def f(event, context):\n    return None\n")
    (tmp_path / "multicloud.yaml").write_text(
        "service: lockunit\nfunctions:\n  f: {handler: app.f}\ntargets:\n  local: {}\n")
    return FileLocked(Project.load(tmp_path))


def stored(provider: Provider) -> LockInfo:
    return LockInfo.from_json((provider.project.root / ".multicloud/locks/local.lock").read_text())


def test_lock_info_round_trips_with_and_without_expiry() -> None:
    info = new_owner("deploy", 60)
    assert LockInfo.from_json(info.to_json()) == info and info.expires is not None
    legacy = LockInfo.from_json('{"owner": "h:1:ab", "operation": "deploy", "since": "2026-01-01T00:00:00+00:00"}')
    assert legacy.expires is None and not legacy.expired()
    assert "no expiry" in describe(legacy)


def test_heartbeat_renews_while_held(provider: Provider, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MULTICLOUD_LOCK_TTL", "1")
    with target_lock(provider, "deploy") as info:
        first = stored(provider).expires
        time.sleep(1.6)  # six beats at TTL/4; the first expiry has passed
        later = stored(provider)
        assert later.owner == info.owner and first is not None and later.expires is not None
        assert later.expires > first and not later.expired()
        with pytest.raises(LockedError, match="expires in"):
            with target_lock(provider, "deploy"):
                pass
    assert not (provider.project.root / ".multicloud/locks/local.lock").exists()


def test_expired_lock_is_taken_over(provider: Provider) -> None:
    dead = LockInfo("elsewhere:4242:dead", "deploy", datetime.now(timezone.utc) - timedelta(minutes=5),
                    datetime.now(timezone.utc) - timedelta(seconds=1))
    assert provider.acquire_lock(dead) is None
    said: list[str] = []
    with target_lock(provider, "deploy", said.append) as info:
        assert stored(provider).owner == info.owner
    assert said and "took over the expired deploy lock of elsewhere:4242:dead" in said[0]


def test_break_with_expected_spares_a_renewed_lock(provider: Provider) -> None:
    info = new_owner("deploy", 60)
    assert provider.acquire_lock(info) is None
    seen = provider.acquire_lock(new_owner("deploy", 60))
    assert seen == info
    assert provider.renew_lock(info.renewed(120))  # the holder beats after the contender looked
    assert provider.break_lock(expected=seen) is None  # so the contender's conditional break misses
    assert stored(provider).owner == info.owner
    assert not provider.renew_lock(new_owner("deploy", 60))  # only the holder renews
    assert provider.break_lock() is not None  # `multicloud unlock` breaks whatever is there


def test_ttl_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MULTICLOUD_LOCK_TTL", "soon")
    with pytest.raises(UsageError, match="MULTICLOUD_LOCK_TTL"):
        lock_ttl()
    monkeypatch.setenv("MULTICLOUD_LOCK_TTL", "300")
    assert lock_ttl() == 300
