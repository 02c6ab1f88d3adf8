"""Errors of the local target's own services -> multicloud errors. Everything multicloud starts here
already raises OperationError with a fix (the supervisor's control channel, the release swap); what is
left is the service's broker: a nats-py error from a declare, prune or send (JetStream out of storage, a
refused configuration) becomes an OperationError naming the broker and its log, not a traceback."""

from __future__ import annotations

from multicloud.errors import MulticloudError, OperationError


def translate(exc: Exception) -> MulticloudError | None:
    from nats.errors import Error as NatsError

    if isinstance(exc, NatsError):
        return OperationError(f"the local broker (nats-server) refused: {type(exc).__name__}: {exc}",
                              fix="see .multicloud/local/broker.log; `multicloud status --target local` shows "
                                  "whether the broker runs", where="local nats-server")
    return None
