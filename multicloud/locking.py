"""One deploy at a time per service and target.

`target_lock(provider, operation)` takes the target's lock around a deploy, remove, rollback or move; a
second contender fails at once with who holds the lock, since when, and how to break a lock left by a
deploy that died (`multicloud unlock`). Where the lock lives is the provider's choice (see
`Provider._acquire_lock`): with the deployment where the target allows it, so CI runners on different
machines exclude each other without sharing a file.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

from multicloud.errors import LockedError
from multicloud.provider import LockInfo, Provider


def new_owner(operation: str) -> LockInfo:
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    return LockInfo(owner, operation, datetime.now(timezone.utc))


@contextmanager
def target_lock(provider: Provider, operation: str) -> Iterator[LockInfo]:
    info = new_owner(operation)
    holder = provider.acquire_lock(info)
    if holder is not None:
        age = datetime.now(timezone.utc) - holder.since.astimezone(timezone.utc)
        raise LockedError(
            f"{provider.project.name} on {provider.name} is locked by {holder.owner} "
            f"({holder.operation}, started {holder.since.isoformat(timespec='seconds')}, "
            f"{int(age.total_seconds())} s ago)",
            fix=f"wait for it to finish; if that run died, break the lock with "
                f"`multicloud unlock {provider.project.root} --target {provider.name}`",
        )
    try:
        yield info
    finally:
        provider.release_lock(info)
