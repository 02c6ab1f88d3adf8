"""The docker deploy lock: a named, created, never started container on the engine (every client of the
engine sees it; the engine refuses a second one with 409, atomically). See docs/architecture.md, "Locks"."""

from __future__ import annotations

from typing import Any

from multicloud.provider import LockInfo

from .engine import ROLE, tar_of

LOCK_INFO = "io.multicloud.lock"  # LockInfo JSON of the holder when it took the lock
LOCK_FILE = "multicloud-lock.json"  # in the lock container's filesystem: the holder's latest renewal


def lock_name(service: str) -> str:
    return f"mc-{service}-deploy-lock"


def _holder(container: Any) -> LockInfo:
    """The latest renewal (a file the heartbeat writes into the container), else the label."""
    import io
    import tarfile

    from docker.errors import NotFound

    try:
        stream, _ = container.get_archive(f"/{LOCK_FILE}")
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = tar.extractfile(LOCK_FILE)
            if member is not None:
                return LockInfo.from_json(member.read().decode())
    except NotFound:
        pass
    except (tarfile.TarError, KeyError, ValueError, TypeError):
        return LockInfo.unknown("lock container with an unreadable renewal")
    try:
        return LockInfo.from_json(container.labels[LOCK_INFO])
    except (KeyError, ValueError, TypeError):
        return LockInfo.unknown("lock container without a readable label")


def _lock_container(client: Any, service: str) -> Any | None:
    from docker.errors import NotFound

    try:
        return client.containers.get(lock_name(service))
    except NotFound:
        return None


def acquire_lock(client: Any, service: str, image: str, labels: dict[str, str], info: LockInfo) -> LockInfo | None:
    """One deploy per service at a time, on the engine itself (works for every client of a remote engine).

    The lock is a created, never started container with a fixed name: the engine refuses a second one
    with 409, atomically. Its label holds who took it, so a contender (or `multicloud unlock`) can say so;
    renewals (a later expiry) are written into its filesystem, since labels cannot change.
    """
    from docker.errors import APIError

    for _ in range(2):  # the holder may release between our refused create and our read
        try:
            client.containers.create(image, command=["true"], name=lock_name(service), network_disabled=True,
                                     labels={**labels, ROLE: "lock", LOCK_INFO: info.to_json()})
        except APIError as exc:
            if exc.status_code != 409:
                raise
            holder = _lock_container(client, service)
            if holder is not None:
                return _holder(holder)
            continue
        return None
    return LockInfo.unknown("lock container appeared and vanished")


def renew_lock(client: Any, service: str, info: LockInfo) -> bool:
    container = _lock_container(client, service)
    if container is None or _holder(container).owner != info.owner:
        return False
    return bool(container.put_archive("/", tar_of({LOCK_FILE: info.to_json().encode()}, mode=0o644)))


def release_lock(client: Any, service: str, info: LockInfo) -> None:
    holder = _lock_container(client, service)
    if holder is not None and _holder(holder).owner == info.owner:
        _remove(holder)


def break_lock(client: Any, service: str, expected: LockInfo | None = None) -> LockInfo | None:
    """Remove the lock container (by its id: a lock taken anew meanwhile is another container)."""
    container = _lock_container(client, service)
    if container is None:
        return None
    holder = _holder(container)
    if expected is not None and holder != expected:
        return None
    _remove(container)
    return holder


def _remove(container: Any) -> None:
    from docker.errors import NotFound

    try:
        container.remove(force=True)
    except NotFound:
        pass
