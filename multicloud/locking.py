"""One deploy at a time per service and target.

`target_lock(provider, operation)` takes the target's lock around a deploy, remove, rollback or move.
Where the lock lives is the provider's choice (see `Provider._acquire_lock`): with the deployment where
the target allows it, so CI runners on different machines exclude each other without sharing a file.

A held lock carries an expiry that a heartbeat thread pushes forward every quarter of the TTL while the
operation runs (`MULTICLOUD_LOCK_TTL`, seconds, default 120). A run that dies (kill -9, a lost CI
machine) stops beating; once its lock has expired, the next run takes it over by itself, breaking only
that exact lock (a holder that renewed meanwhile keeps it). Until then a contender fails at once with who
holds the lock, since when, when it expires, and how to break it now (`multicloud unlock`).

Expiry compares clocks of different machines: keep the TTL well above their skew (NTP keeps it to
milliseconds; the default leaves two minutes).
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

from multicloud.errors import LockedError, UsageError
from multicloud.provider import LockInfo, Progress, Provider, no_progress

DEFAULT_TTL_S = 120.0
MIN_TTL_S = 1.0


def lock_ttl() -> float:
    raw = os.environ.get("MULTICLOUD_LOCK_TTL", "").strip()
    if not raw:
        return DEFAULT_TTL_S
    try:
        ttl = float(raw)
    except ValueError:
        ttl = -1.0
    if ttl < MIN_TTL_S:
        raise UsageError(f"MULTICLOUD_LOCK_TTL={raw!r} is not a number of seconds >= {MIN_TTL_S:g}",
                         fix=f"unset it (default {DEFAULT_TTL_S:g} s) or set e.g. MULTICLOUD_LOCK_TTL=300")
    return ttl


def new_owner(operation: str, ttl_s: float | None = None) -> LockInfo:
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    info = LockInfo(owner, operation, datetime.now(timezone.utc))
    return info.renewed(ttl_s) if ttl_s is not None else info


def describe(holder: LockInfo, now: datetime | None = None) -> str:
    """`<owner> (deploy, started ..., N s ago, expires in M s)`."""
    now = now or datetime.now(timezone.utc)
    age = int((now - holder.since.astimezone(timezone.utc)).total_seconds())
    parts = [holder.operation, f"started {holder.since.isoformat(timespec='seconds')}", f"{age} s ago"]
    if holder.expires is None:
        parts.append("no expiry")
    elif holder.expired(now):
        parts.append("expired")
    else:
        parts.append(f"expires in {max(1, int((holder.expires - now).total_seconds()))} s unless its run is alive")
    return f"{holder.owner} ({', '.join(parts)})"


class Heartbeat:
    """Renews the lock every `ttl/4` until stopped. Renewal errors are reported and retried; a lock found
    taken by someone else (broken by `multicloud unlock`) is reported once and no longer renewed."""

    def __init__(self, provider: Provider, info: LockInfo, ttl_s: float, progress: Progress) -> None:
        self.provider, self.info, self.ttl_s, self.progress = provider, info, ttl_s, progress
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lock-heartbeat-{provider.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.ttl_s / 4):
            renewed = self.info.renewed(self.ttl_s)
            try:
                held = self.provider.renew_lock(renewed)
            except Exception as exc:  # noqa: BLE001 - a blip; the next beat retries before expiry
                self.progress(f"could not renew the deploy lock ({exc}); retrying")
                continue
            if not held:
                self.progress("the deploy lock was broken by someone else while this run held it")
                return
            self.info = renewed


@contextmanager
def target_lock(provider: Provider, operation: str, progress: Progress = no_progress) -> Iterator[LockInfo]:
    ttl = lock_ttl()
    info = new_owner(operation, ttl)
    holder = provider.acquire_lock(info)
    if holder is not None and holder.expired():
        if provider.break_lock(expected=holder) is not None:
            progress(f"took over the expired deploy lock of {describe(holder)}")
        holder = provider.acquire_lock(info)
    if holder is not None:
        raise LockedError(
            f"{provider.project.name} on {provider.name} is locked by {describe(holder)}",
            fix=f"wait for it to finish (a run that died loses the lock when it expires); to break it now, "
                f"`multicloud unlock {provider.project.root} --target {provider.name}`",
        )
    beat = Heartbeat(provider, info, ttl, progress)
    beat.start()
    try:
        yield info
    finally:
        beat.stop()
        provider.release_lock(beat.info)
