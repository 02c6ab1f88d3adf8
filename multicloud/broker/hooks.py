"""The event hooks of a provider whose queues live on a service broker (`local`, `docker`): send, pending
and dead letters, through the broker's admin user. A provider mixes this in and says how to reach its
broker (`_broker_admin`)."""

from __future__ import annotations

from collections.abc import Sequence

from multicloud.broker.admin import BrokerAdmin
from multicloud.broker.topology import Channel, ChannelKind, Topology, conflicts, topology
from multicloud.errors import UnsupportedError, UsageError
from multicloud.provider import DeadLetter, DeadLetterAction, Provider, S, SendResult


class BrokerEvents(Provider[S]):
    def _broker_admin(self) -> BrokerAdmin:
        raise NotImplementedError

    def broker_servers(self) -> list[str]:
        """The broker's client URLs as the deploying host reaches them (where producers on it connect)."""
        return list(self._broker_admin().servers)

    def _topology(self) -> Topology:
        return topology(self.project, self.name)

    def _check(self) -> None:
        """A work queue hands each message to one consumer: one reading function per queue (and a function
        reads a stream or bucket once). Exit 3 at validate, before anything is built."""
        for what, fns, where in conflicts(self.project, self.name):
            raise UnsupportedError(f"{what} is read by {', '.join(fns)}; on the {self.name} target each queue has "
                                   "one reading function (a work queue hands each message to one consumer), and a "
                                   "function reads a stream or bucket once",
                                   fix="let one function read it (it may call the others)", where=where)

    def _channel(self, kind: ChannelKind, name: str) -> tuple[Topology, Channel]:
        topo = self._topology()
        try:
            return topo, topo.channel(kind, name)
        except KeyError:
            raise UsageError(f"no function reads {kind} {name!r} on {self.name}",
                             fix=f"add a `{kind}: {{name: {name}}}` trigger to a function enabled on {self.name}") \
                from None

    def _send(self, channel: ChannelKind, name: str, body: bytes,  # type: ignore[override]
              attributes: dict[str, str]) -> SendResult:
        _, ch = self._channel(channel, name)
        seq = self._broker_admin().send(ch, body, attributes)
        return SendResult(self.name, channel, name, f"{ch.subject} (stream {ch.stream})",  # type: ignore[arg-type]
                          message_id=str(seq))

    def _pending(self, queue: str) -> int | None:
        topo, ch = self._channel("queue", queue)
        return self._broker_admin().pending(topo, ch)

    def _dead_letters(self, queue: str, limit: int) -> list[DeadLetter]:
        topo, ch = self._channel("queue", queue)
        return self._broker_admin().dead_letters(topo, ch, limit)

    def _retry_dead_letters(self, queue: str, ids: tuple[str, ...] | None) -> DeadLetterAction:
        topo, ch = self._channel("queue", queue)
        done = self._broker_admin().retry(topo, ch, _ids(ids))
        return DeadLetterAction(self.name, queue, "retry", tuple(done))

    def _purge_dead_letters(self, queue: str, ids: tuple[str, ...] | None) -> DeadLetterAction:
        topo, ch = self._channel("queue", queue)
        done = self._broker_admin().purge(topo, ch, _ids(ids))
        return DeadLetterAction(self.name, queue, "purge", tuple(done))


def _ids(ids: Sequence[str] | None) -> list[str] | None:
    if ids is None:
        return None
    bad = [i for i in ids if not i.isdigit()]
    if bad:
        raise UsageError(f"dead letter ids on the private targets are stream sequence numbers, not {bad[0]!r}",
                         fix="use an id that `multicloud dead-letters` lists")
    return list(ids)
