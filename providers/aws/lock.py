"""The aws target's deploy lock, stored in AWS itself: an SSM parameter per service and stage.

`/multicloud/<service>-<stage>/deploy-lock` is created with PutParameter Overwrite=False, which AWS does
atomically: a second runner, on any machine with access to the account, gets ParameterAlreadyExists and
reads who holds it (the LockInfo JSON in the value). The holder's heartbeat overwrites the value with a
later expiry after checking it still holds it; SSM has no compare-and-swap, so a break racing a renewal
by milliseconds could let both believe they hold it (only ever for an expired lock, i.e. a holder that
missed several heartbeats). The parameter carries multicloud's ownership tags. Only the deploying
identity touches it (ssm:PutParameter/GetParameter/DeleteParameter on that name): the functions'
execution roles never need it. Releasing deletes it, so `remove` leaves nothing behind.
"""

from __future__ import annotations

from multicloud.provider import LockInfo

from .clients import Aws
from .context import error_code
from .names import MANAGED_BY, TAG_MANAGED, TAG_SERVICE, TAG_STAGE

UNREADABLE = "unreadable lock parameter"
GONE = {"ParameterNotFound", "ParameterVersionNotFound"}


def parameter_name(service: str, stage: str) -> str:
    return f"/multicloud/{service}-{stage}/deploy-lock"


def _read(aws: Aws, name: str) -> LockInfo | None:
    try:
        value = aws.client("ssm").get_parameter(Name=name)["Parameter"]["Value"]
    except Exception as exc:
        if error_code(exc) in GONE:
            return None
        raise
    try:
        return LockInfo.from_json(str(value))
    except (ValueError, KeyError, TypeError):
        return LockInfo.unknown(UNREADABLE)


def acquire(aws: Aws, service: str, stage: str, info: LockInfo) -> LockInfo | None:
    """None when this run took the lock, else the holder. Two tries: a holder may release between our
    refused put and our read, and then the lock is free for the taking."""
    name = parameter_name(service, stage)
    tags = [{"Key": TAG_MANAGED, "Value": MANAGED_BY}, {"Key": TAG_SERVICE, "Value": service},
            {"Key": TAG_STAGE, "Value": stage}]
    for _ in range(2):
        try:
            aws.client("ssm").put_parameter(
                Name=name, Value=info.to_json(), Type="String", Overwrite=False, Tags=tags,
                Description=f"multicloud deploy lock of {service} ({stage}); `multicloud unlock` breaks it")
        except Exception as exc:
            if error_code(exc) != "ParameterAlreadyExists":
                raise
            holder = _read(aws, name)
            if holder is not None:
                return holder
            continue
        return None
    return LockInfo.unknown(UNREADABLE)


def renew(aws: Aws, service: str, stage: str, info: LockInfo) -> bool:
    name = parameter_name(service, stage)
    holder = _read(aws, name)
    if holder is None or holder.owner != info.owner:
        return False
    aws.client("ssm").put_parameter(Name=name, Value=info.to_json(), Type="String", Overwrite=True)
    return True


def release(aws: Aws, service: str, stage: str, info: LockInfo) -> None:
    name = parameter_name(service, stage)
    holder = _read(aws, name)
    if holder is not None and holder.owner == info.owner:
        _delete(aws, name)


def break_lock(aws: Aws, service: str, stage: str, expected: LockInfo | None) -> LockInfo | None:
    name = parameter_name(service, stage)
    holder = _read(aws, name)
    if holder is None or (expected is not None and holder != expected):
        return None
    _delete(aws, name)
    return holder


def _delete(aws: Aws, name: str) -> None:
    try:
        aws.client("ssm").delete_parameter(Name=name)
    except Exception as exc:
        if error_code(exc) not in GONE:
            raise
