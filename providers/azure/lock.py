"""The azure target's deploy lock, stored in Azure itself: a lease on a blob container in the app's storage
account, taken through ARM (`blob_containers.lease`), with the holder's LockInfo in the container's metadata.

Why this store. Azure Storage leases are atomic: Acquire on a container whose lease is active answers 409
to everyone but the lease id holding it, so two runners on different machines cannot both take it. It is
management-plane only: the storage SDK and credential deploy already uses, no data-plane client, key or
"Storage Blob Data" role. And it lives with the deployment: the storage account is the app's own
(AzureWebJobsStorage), so `remove`, which deletes that account, leaves no lock behind. Alternatives weighed:
resource-group tags and ARM management locks (`Microsoft.Authorization/locks`) have no atomic
create-if-absent (PUT overwrites) and management locks need Owner-level rights; a blob lease through the
data plane would add azure-storage-blob and a data role for the same semantics.

How. The container is `deploy-lock-<hash>` (the hash of subscription, group and service that names the
other resources). The lease is infinite (`-1`): liveness is the `expires` in the metadata, pushed forward by
the heartbeat, not a 60 s lease that a long ARM call could outlive. Its id is derived from the owner
(uuid5 of `host:pid:nonce`), so anyone who reads the metadata knows the lease id of the run it names:
- acquire: Acquire with our id, then record our LockInfo in the metadata. A 409 means held: the metadata
  names the holder, believed only if a Renew with the id derived from it succeeds (a no-op on an infinite
  lease, 409 for any other id), so a stale record of an earlier holder is never reported as the holder;
  a holder that has not recorded itself yet is waited for briefly, then reported as unknown.
- renew: Renew with our id (409: the lease is no longer ours), then rewrite the metadata.
- release: Release with our id; a 409 (not ours any more) or 404 (the container or account is gone, e.g.
  after `remove`) is nothing to release. The metadata is left as it is: it is only believed while its lease
  is active, and clearing it would race with the next holder writing its own.
- break(expected): only when the metadata still equals `expected`, Release with the id derived from
  `expected.owner`: Azure does that only if that very lease is the active one, so a lock someone took anew
  meanwhile is never broken. `multicloud unlock` (no `expected`) uses Break with period 0.
The metadata write is not conditional (ARM takes no lease id for it): a break racing a renewal of the
same, already expired lock within one round trip can leave the metadata naming the wrong run (the lease
itself stays exclusive).

First deploy: the lock needs the resource group and storage account before the deploy that creates them, so a
`deploy` creates them first, with plan.py's bodies through apply.py's executors (same names, location, tags,
properties); deploy then finds them in place. Other operations (remove, rollback, move) act on a deployment:
with no storage account there is nothing deployed and they run without a lock rather than create an account to
lock in. An account that exists without the lock container (deployed before the lock moved here) just gains
it. `remove` deletes the account and the lock with it: from then on, until remove ends, another runner could
take a new lock; renewing a lock whose account is gone is therefore not reported as a lock lost to someone.

Permissions: the deploying identity needs, on the storage account, `Microsoft.Storage/storageAccounts/
blobServices/containers/read`, `.../write` and `.../lease/action` (all in Contributor and Storage Account
Contributor); no data-plane role. The functions' own identity never touches it.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from multicloud.provider import LockInfo, no_progress

from .apply import create_group, create_storage_account
from .arm import TAG_MANAGED, TAG_SERVICE, ArmSession, get_or_none
from .plan import account_body, group_body

LEASE_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "deploy-lock.multicloud.invalid")  # fixed: same ids everywhere
META_LOCK = "multicloud_lock"  # metadata names are C# identifiers: no dashes
ACTIVE = ("Leased", "Breaking")  # lease states in which Acquire is refused (a tuple: compared with ==)
CREATES_STORE = "deploy"  # the one operation that may create the group and account to lock in
UNRECORDED = "lock container leased, holder not recorded"
WAITS_S = (0.2, 0.5, 1.0)  # for a holder that took the lease but has not written its metadata yet
GONE, REFUSED = "gone", "refused"


def lease_id(owner: str) -> str:
    return str(uuid.uuid5(LEASE_NAMESPACE, owner))


def acquire(s: ArmSession, info: LockInfo) -> LockInfo | None:
    """None when this run took the lock, else the holder."""
    for wait in (*WAITS_S, None):
        outcome = _lease(s, {"action": "Acquire", "leaseDuration": -1, "proposedLeaseId": lease_id(info.owner)})
        if outcome is None:
            try:
                _record(s, info)
            except BaseException:
                _lease(s, {"action": "Release", "leaseId": lease_id(info.owner)})  # no lease without a holder
                raise
            return None
        if outcome == GONE:
            if not _create_store(s, info.operation):
                return None  # nothing deployed, nothing to lock (see the module docstring)
            continue
        leased, holder = _read(s)
        if leased and holder is not None:
            return holder
        if wait is not None:  # released meanwhile (try again) or the holder has not recorded itself yet
            time.sleep(wait)
    return LockInfo.unknown(UNRECORDED)


def renew(s: ArmSession, info: LockInfo) -> bool:
    outcome = _lease(s, {"action": "Renew", "leaseId": lease_id(info.owner)})
    if outcome == GONE:
        return True  # the account went with `remove`: nobody else holds a lock there
    if outcome == REFUSED:
        return False
    _record(s, info)
    return True


def release(s: ArmSession, info: LockInfo) -> None:
    _lease(s, {"action": "Release", "leaseId": lease_id(info.owner)})  # refused or gone: nothing to release


def break_lock(s: ArmSession, expected: LockInfo | None) -> LockInfo | None:
    leased, holder = _read(s)
    if not leased:
        return None
    if expected is not None:
        if holder != expected:
            return None
        # conditional on the lease itself: Azure releases only if this very lease is still the active one
        return holder if _lease(s, {"action": "Release", "leaseId": lease_id(expected.owner)}) is None else None
    if _lease(s, {"action": "Break", "breakPeriod": 0}) is not None:
        return None  # released meanwhile
    return holder or LockInfo.unknown(UNRECORDED)


def _read(s: ArmSession) -> tuple[bool, LockInfo | None]:
    """(the lease is active, its holder as recorded: None when unrecorded, unreadable or stale)."""
    container = get_or_none(s.storage.blob_containers.get, s.resource_group, s.storage_account, s.lock_container)
    if container is None or container.lease_state not in ACTIVE:
        return False, None
    try:
        holder = LockInfo.from_json((container.metadata or {})[META_LOCK])
    except (KeyError, ValueError, TypeError):
        return True, None
    # Renew with the recorded owner's lease id: succeeds (a no-op on an infinite lease) only if it is the
    # active one, so a record an earlier holder left behind is never taken for the current holder
    outcome = _lease(s, {"action": "Renew", "leaseId": lease_id(holder.owner)})
    if outcome == GONE:
        return False, None
    return True, (holder if outcome is None else None)


def _lease(s: ArmSession, request: dict[str, Any]) -> str | None:
    """One lease action: None when Azure did it, REFUSED for a 409 (any lease conflict: the codes differ by
    state, the meaning for this module does not), GONE for a 404 (no container, account or group)."""
    from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

    try:
        s.storage.blob_containers.lease(s.resource_group, s.storage_account, s.lock_container, request)
    except ResourceNotFoundError:
        return GONE
    except ResourceExistsError:
        return REFUSED
    return None


def _metadata(s: ArmSession, info: LockInfo | None = None) -> dict[str, str]:
    ours = {TAG_MANAGED.replace("-", "_"): "multicloud", TAG_SERVICE.replace("-", "_"): s.project.name}
    return ours if info is None else {**ours, META_LOCK: info.to_json()}


def _record(s: ArmSession, info: LockInfo) -> None:
    s.storage.blob_containers.update(s.resource_group, s.storage_account, s.lock_container,
                                     {"properties": {"metadata": _metadata(s, info)}})


def _create_store(s: ArmSession, operation: str) -> bool:
    """The lock container, and for a deploy the group and account it lives in. False: no account, and this
    operation does not create one."""
    from azure.core.exceptions import ResourceExistsError

    rg = s.resource_group
    if get_or_none(s.storage.storage_accounts.get_properties, rg, s.storage_account) is None:
        if operation != CREATES_STORE:
            return False
        if get_or_none(s.resources.resource_groups.get, rg) is None:
            create_group(s, group_body(s), no_progress)
        create_storage_account(s, account_body(s), no_progress)
    try:
        s.storage.blob_containers.create(rg, s.storage_account, s.lock_container,
                                         {"properties": {"metadata": _metadata(s)}})
    except ResourceExistsError:
        pass  # another runner created it first
    return True
