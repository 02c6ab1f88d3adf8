"""A deploy lock kept in a file, created atomically (O_EXCL): the default lock store of every provider
(`Provider._acquire_lock` and its siblings) and the chosen one of the `local` target.

A file serialises deploys from one machine only, which is exactly as wide as a target whose deployers all
run on this machine; targets that can store the lock with the deployment (a parameter, an object, a lease,
a named container) keep it there instead. Contract (see multicloud.locking): acquire is atomic (None:
taken, else the holder); renew and release act only while `info.owner` holds the lock; break with
`expected` removes only that exact lock.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from multicloud.provider import LockInfo


@dataclass(frozen=True)
class FileLock:
    path: Path

    def acquire(self, info: LockInfo) -> LockInfo | None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            return self.holder()
        with os.fdopen(fd, "w") as fh:
            fh.write(info.to_json())
        return None

    def renew(self, info: LockInfo) -> bool:
        if not self.path.exists() or self.holder().owner != info.owner:
            return False
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(info.to_json())
        os.replace(tmp, self.path)  # atomic: a reader sees the old or the new holder, never half a file
        return True

    def release(self, info: LockInfo) -> None:
        if self.path.exists() and self.holder().owner == info.owner:
            self.path.unlink(missing_ok=True)

    def break_lock(self, expected: LockInfo | None = None) -> LockInfo | None:
        if not self.path.exists():
            return None
        holder = self.holder()
        if expected is not None and holder != expected:
            return None
        self.path.unlink(missing_ok=True)
        return holder

    def holder(self) -> LockInfo:
        try:
            return LockInfo.from_json(self.path.read_text())
        except (OSError, ValueError, KeyError):
            return LockInfo.unknown("unreadable lock file")


def lock_file(root: Path, target: str) -> FileLock:
    """The lock of `target` for the service whose spec is in `root`: `.multicloud/locks/<target>.lock`."""
    return FileLock(root / ".multicloud" / "locks" / f"{target}.lock")
