"""The blob-container lease of a FAKE storage account (fake_azure.py serves it through ARM). Not Azure.

It follows the Blob service's "Lease Container" reference (outcomes of each action by lease state) and
Azurite's implementation of it: the five states Available, Leased, Expired, Breaking, Broken; Acquire
with a duration of 15-60 s or -1 (infinite) and an optional proposed GUID; Renew, Change and Release with
the active lease id; Break with a period of 0-60 s; the 409 codes a refused action answers with and 400
InvalidHeaderValue for a bad duration, period or id. ARM's BlobContainers_Lease (POST .../lease) takes the
same fields in a JSON body and answers `{"leaseId", "leaseTimeSeconds"}`.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass, replace
from typing import Any

MESSAGES = {  # the Blob service's wording (Azurite's StorageErrorFactory)
    "LeaseAlreadyPresent": "There is already a lease present.",
    "LeaseIsBreakingAndCannotBeAcquired": "There is already a breaking lease, and can't be acquired.",
    "LeaseIsBreakingAndCannotBeChanged": "The lease ID matched, but the lease is currently in breaking state and "
                                         "cannot be changed.",
    "LeaseNotPresentWithLeaseOperation": "There is currently no lease on the container or blob.",
    "LeaseIdMismatchWithLeaseOperation": "The lease ID specified did not match the lease ID for the container or blob.",
    "LeaseIsBrokenAndCannotBeRenewed": "The lease ID matched, but the lease has been broken explicitly and cannot be "
                                       "renewed.",
    "InvalidHeaderValue": "The value for one of the HTTP headers is not in the correct format.",
}
GUID = re.compile(r"^\{?[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}\}?$")


class LeaseError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(MESSAGES[code])
        self.status = 400 if code == "InvalidHeaderValue" else 409
        self.code, self.message = code, MESSAGES[code]


@dataclass(frozen=True)
class Lease:
    id: str
    duration: int  # seconds; -1: infinite
    until: float | None = None  # a fixed lease expires then
    breaking_until: float | None = None  # Break with a period: Breaking until then, Broken after

    def state(self, now: float) -> str:
        if self.breaking_until is not None:
            return "Broken" if now >= self.breaking_until else "Breaking"
        if self.until is not None and now >= self.until:
            return "Expired"
        return "Leased"


def properties(lease: Lease | None, now: float) -> dict[str, str]:
    """leaseState / leaseStatus / leaseDuration as ARM reports them on the container."""
    state = lease.state(now) if lease else "Available"
    props = {"leaseState": state, "leaseStatus": "Locked" if state in ("Leased", "Breaking") else "Unlocked"}
    if state == "Leased" and lease is not None:
        props["leaseDuration"] = "Infinite" if lease.duration == -1 else "Fixed"
    return props


def act(lease: Lease | None, body: dict[str, Any], now: float) -> tuple[Lease | None, dict[str, str]]:
    """Apply one lease action: (the lease afterwards, ARM's response body); LeaseError when refused."""
    lease_id, proposed = body.get("leaseId"), body.get("proposedLeaseId")
    for value in (lease_id, proposed):
        if value is not None and not GUID.match(str(value)):
            raise LeaseError("InvalidHeaderValue")
    state = lease.state(now) if lease else "Available"
    action = body["action"]
    if action == "Acquire":
        return _acquire(lease, state, body.get("leaseDuration"), proposed, now)
    if action in ("Renew", "Change", "Release") and lease_id is None:
        raise LeaseError("InvalidHeaderValue")  # x-ms-lease-id is required for these
    if lease is None:  # Available: no lease id can match
        code = "LeaseNotPresentWithLeaseOperation" if action in ("Change", "Break") else \
            "LeaseIdMismatchWithLeaseOperation"
        raise LeaseError(code)
    if action == "Renew":
        if lease.id != lease_id:
            raise LeaseError("LeaseIdMismatchWithLeaseOperation")
        if state in ("Breaking", "Broken"):
            raise LeaseError("LeaseIsBrokenAndCannotBeRenewed")
        renewed = Lease(lease.id, lease.duration, None if lease.duration == -1 else now + lease.duration)
        return renewed, {"leaseId": lease.id}
    if action == "Change":
        if proposed is None:
            raise LeaseError("InvalidHeaderValue")
        if state in ("Expired", "Broken"):
            raise LeaseError("LeaseNotPresentWithLeaseOperation")
        if lease.id not in (lease_id, proposed):
            raise LeaseError("LeaseIdMismatchWithLeaseOperation")
        if state == "Breaking":
            raise LeaseError("LeaseIsBreakingAndCannotBeChanged")
        return replace(lease, id=proposed), {"leaseId": proposed}
    if action == "Release":
        if lease.id != lease_id:
            raise LeaseError("LeaseIdMismatchWithLeaseOperation")
        return None, {}
    if action == "Break":
        return _break(lease, state, body.get("breakPeriod"), now)
    raise LeaseError("InvalidHeaderValue")


def _acquire(lease: Lease | None, state: str, duration: Any, proposed: str | None,
             now: float) -> tuple[Lease, dict[str, str]]:
    if not isinstance(duration, int) or (duration != -1 and not 15 <= duration <= 60):
        raise LeaseError("InvalidHeaderValue")
    if lease is not None and state == "Breaking":
        raise LeaseError("LeaseIsBreakingAndCannotBeAcquired" if proposed == lease.id else "LeaseAlreadyPresent")
    if lease is not None and state == "Leased" and proposed != lease.id:
        raise LeaseError("LeaseAlreadyPresent")  # only the active lease id may acquire again (a new duration)
    new = Lease(proposed or str(uuid.uuid4()), duration, None if duration == -1 else now + duration)
    return new, {"leaseId": new.id}


def _break(lease: Lease, state: str, period: Any, now: float) -> tuple[Lease, dict[str, str]]:
    if period is not None and (not isinstance(period, int) or not 0 <= period <= 60):
        raise LeaseError("InvalidHeaderValue")
    if state in ("Expired", "Broken"):
        return replace(lease, breaking_until=now), {"leaseTimeSeconds": "0"}
    if state == "Breaking" and period is None:
        return lease, {"leaseTimeSeconds": str(math.ceil(max(0.0, (lease.breaking_until or now) - now)))}
    # Leased or Breaking: an infinite lease breaks at once unless a period is given; a fixed one at its
    # expiry at the latest; breaking again can only bring the end closer
    ends = now + period if period is not None else (lease.until if lease.until is not None else now)
    for bound in (lease.until, lease.breaking_until):
        if bound is not None:
            ends = min(ends, bound)
    return replace(lease, breaking_until=ends), {"leaseTimeSeconds": str(math.ceil(max(0.0, ends - now)))}
