"""The deploying host's side of a service's broker, as the `admin` user: declare the streams and consumers
the spec needs, send a message, count what waits in a queue, list, retry and purge dead letters.

`local` and `docker` build a `BrokerAdmin` with the broker's client URLs and the admin password (never
logged, never in state) and call it; each call connects, does its work and closes (the CLI is short-lived).
nats-py is imported only here and in the runtime's consumer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timezone
from typing import Any, TypeVar

from multicloud.broker.topology import DEAD_LETTER_MAX_AGE_S, STREAM_MAX_AGE_S, Channel, Subscription, Topology
from multicloud.errors import OperationError
from multicloud.provider import DeadLetter

T = TypeVar("T")
READY_TIMEOUT = 60.0
MAX_ACK_PENDING = 1000


def _attempts(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


class BrokerAdmin:
    def __init__(self, servers: Sequence[str], password: str, *, where: str, user: str = "admin") -> None:
        self.servers = list(servers)
        self.password = password
        self.user = user
        self.where = where  # what the broker is, for error messages (e.g. "container mc-orders-broker")

    # ---- plumbing ----------------------------------------------------------------------------------------
    def _run(self, work: Callable[[Any, Any], Awaitable[T]], *, timeout: float = 30.0) -> T:
        async def main() -> T:
            import nats

            try:
                nc = await nats.connect(servers=self.servers, user=self.user, password=self.password,
                                        connect_timeout=3, allow_reconnect=True, max_reconnect_attempts=3,
                                        reconnect_time_wait=0.5, name="multicloud admin", error_cb=_quiet)
            except Exception as exc:
                raise OperationError(f"cannot connect to the broker at {', '.join(self.servers)}: "
                                     f"{type(exc).__name__}: {exc}",
                                     fix="check that the service is deployed (`multicloud status`) and the broker "
                                     "runs", where=self.where) from exc
            try:
                return await asyncio.wait_for(work(nc, nc.jetstream(timeout=10)), timeout)
            finally:
                await nc.close()

        return run_coroutine(main)

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Until the broker accepts the admin and JetStream answers (a new cluster elects its leader first)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._run(lambda _nc, js: js.account_info(), timeout=10)
                return
            except Exception as exc:  # noqa: BLE001
                if time.monotonic() > deadline:
                    why = exc.what if isinstance(exc, OperationError) else str(exc)  # `where` is said once
                    raise OperationError(f"the broker did not become ready in {timeout:g} s: {why}",
                                         fix="see the broker's log", where=self.where) from exc
                time.sleep(0.5)

    # ---- declare -----------------------------------------------------------------------------------------
    def ensure(self, topology: Topology, replicas: int, progress: Callable[[str], None]) -> None:
        """Create or update every stream and consumer the topology needs. Retries while a cluster is still
        electing leaders."""
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            try:
                self._run(lambda _nc, js: self._ensure(js, topology, replicas, progress), timeout=120)
                return
            except OperationError:
                raise
            except Exception as exc:  # noqa: BLE001 - "JetStream system temporarily unavailable" and kin
                if time.monotonic() > deadline:
                    raise OperationError(f"cannot create the streams of {topology.service} on the broker "
                                         f"({self.where}): {type(exc).__name__}: {exc}",
                                         fix="see the broker's log", where=self.where) from exc
                time.sleep(1.0)

    async def _ensure(self, js: Any, topology: Topology, replicas: int, progress: Callable[[str], None]) -> None:
        from nats.js.api import RetentionPolicy, StorageType, StreamConfig

        retention = {"workqueue": RetentionPolicy.WORK_QUEUE, "limits": RetentionPolicy.LIMITS,
                     "interest": RetentionPolicy.INTEREST}
        wanted = [StreamConfig(name=topology.dead_letter_stream, subjects=[topology.dead_letter_subjects],
                               retention=RetentionPolicy.LIMITS, max_age=DEAD_LETTER_MAX_AGE_S,
                               storage=StorageType.FILE, num_replicas=replicas, duplicate_window=120,
                               description=f"dead letters of {topology.service} (multicloud)")]
        for ch in topology.channels:
            wanted.append(StreamConfig(
                name=ch.stream, subjects=[ch.subject], retention=retention[ch.retention], storage=StorageType.FILE,
                num_replicas=replicas, max_age=STREAM_MAX_AGE_S if ch.kind == "stream" else 0,
                duplicate_window=120, description=f"{ch.kind} {ch.name} of {topology.service} (multicloud)"))
        for cfg in wanted:
            await self._stream(js, cfg, progress)
        for sub in topology.subscriptions:
            await self._consumer(js, sub, replicas, progress)

    def prune(self, topology: Topology, progress: Callable[[str], None]) -> None:
        """Delete consumers on the service's streams that no function reads any more: called once the new
        version serves (the previous one may still read them until then), so a work queue is never held by
        a consumer nobody pulls from."""
        async def work(_nc: Any, js: Any) -> None:
            for ch in topology.channels:
                keep = {s.consumer for s in topology.subscriptions_of(ch)}
                for info in await js.consumers_info(ch.stream):
                    if info.name not in keep:
                        progress(f"broker: deleting consumer {info.name} of {ch.stream} (no function reads it now)")
                        await js.delete_consumer(ch.stream, info.name)

        self._run(work)

    @staticmethod
    async def _stream(js: Any, cfg: Any, progress: Callable[[str], None]) -> None:
        from nats.js.errors import NotFoundError

        try:
            info = await js.stream_info(cfg.name)
        except NotFoundError:
            progress(f"broker: creating stream {cfg.name} ({cfg.retention.value}, {cfg.num_replicas} replica(s))")
            await js.add_stream(cfg)
            return
        have = info.config
        if (have.subjects, have.max_age, have.num_replicas) != (cfg.subjects, cfg.max_age, cfg.num_replicas):
            progress(f"broker: updating stream {cfg.name}")
            await js.update_stream(cfg)

    @staticmethod
    async def _consumer(js: Any, sub: Subscription, replicas: int, progress: Callable[[str], None]) -> None:
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
        from nats.js.errors import NotFoundError

        cfg = ConsumerConfig(
            durable_name=sub.consumer, ack_policy=AckPolicy.EXPLICIT, ack_wait=sub.ack_wait, max_deliver=-1,
            deliver_policy=DeliverPolicy.ALL if sub.deliver == "all" else DeliverPolicy.NEW,
            filter_subject=sub.channel.subject, max_waiting=512,
            max_ack_pending=sub.batch_size if sub.ordered else max(MAX_ACK_PENDING, sub.batch_size * 8),
            description=f"{sub.function} reads {sub.channel.kind} {sub.channel.name} (multicloud)")
        try:
            info = await js.consumer_info(sub.channel.stream, sub.consumer)
        except NotFoundError:
            progress(f"broker: creating consumer {sub.consumer} of {sub.channel.stream}")
            await js.add_consumer(sub.channel.stream, cfg)
            return
        have = info.config
        if have.deliver_policy != cfg.deliver_policy or have.filter_subject != cfg.filter_subject:
            # where to start reading cannot change on a consumer: a new one starts where the spec says now
            progress(f"broker: recreating consumer {sub.consumer} of {sub.channel.stream} (starting position)")
            await js.delete_consumer(sub.channel.stream, sub.consumer)
            await js.add_consumer(sub.channel.stream, cfg)
        elif (have.ack_wait, have.max_ack_pending, have.max_deliver) != (cfg.ack_wait, cfg.max_ack_pending, -1):
            progress(f"broker: updating consumer {sub.consumer} of {sub.channel.stream}")
            await js.add_consumer(sub.channel.stream, cfg)

    # ---- operate -----------------------------------------------------------------------------------------
    def send(self, channel: Channel, body: bytes, attributes: dict[str, str]) -> int:
        """Publish where `channel` is read; the stream sequence JetStream stored it at."""
        async def work(_nc: Any, js: Any) -> int:
            ack = await js.publish(channel.subject, body, headers=attributes or None, timeout=10)
            return int(ack.seq)

        return self._run(work)

    def pending(self, topology: Topology, channel: Channel) -> int:
        """Messages of a queue not yet handled: waiting, plus delivered and not yet acknowledged (in flight or
        waiting for a retry), as its consumer counts them. Not the stream's message count: nats-server 2.9
        killed with -9 can bring back messages its consumer had already acknowledged (their deletion was
        not on disk yet); they are never delivered again, so they are not work."""
        async def work(_nc: Any, js: Any) -> int:
            subs = topology.subscriptions_of(channel)
            if not subs:
                info = await js.stream_info(channel.stream)
                return int(info.state.messages)
            total = 0
            for sub in subs:
                ci = await js.consumer_info(channel.stream, sub.consumer)
                total += int(ci.num_pending or 0) + int(ci.num_ack_pending or 0)
            return total

        return self._run(work)

    def stream_info(self, stream: str) -> Any:
        """JetStream's own description of a stream (configuration, state, cluster replicas)."""
        return self._run(lambda _nc, js: js.stream_info(stream))

    def dead_letters(self, topology: Topology, channel: Channel, limit: int) -> list[DeadLetter]:
        async def work(_nc: Any, js: Any) -> list[DeadLetter]:
            return [_letter(channel, m) for m in await self._letters(js, topology, channel, limit)]

        return self._run(work)

    async def _letters(self, js: Any, topology: Topology, channel: Channel, limit: int | None,
                       ids: Sequence[str] | None = None) -> list[Any]:
        """Dead letters of `channel`, oldest first (all, or those with the given stream sequences)."""
        from nats.js.errors import NotFoundError

        stream, subject = topology.dead_letter_stream, channel.dead_letter_subject
        out: list[Any] = []
        if ids is not None:
            for i in ids:
                try:
                    msg = await js.get_msg(stream, int(i))
                except (NotFoundError, ValueError):
                    continue
                if msg.subject == subject:
                    out.append(msg)
            return out
        seq = 1
        while limit is None or len(out) < limit:
            try:
                msg = await js.get_msg(stream, seq, subject=subject, next=True)
            except NotFoundError:
                break
            out.append(msg)
            seq = int(msg.seq) + 1
        return out

    def retry(self, topology: Topology, channel: Channel, ids: Sequence[str] | None) -> list[str]:
        """Publish each dead letter back to its queue (its original attributes, a fresh attempt count), then
        delete it from the dead letters: at worst a crash in between leaves it in both, never in neither."""
        async def work(_nc: Any, js: Any) -> list[str]:
            done = []
            for msg in await self._letters(js, topology, channel, None, ids):
                headers = {k: v for k, v in (msg.headers or {}).items()
                           if not k.startswith(("Nats-", "Mc-")) and k not in ("Status", "Description")}
                await js.publish(channel.subject, msg.data or b"", headers=headers or None, timeout=10)
                await js.delete_msg(topology.dead_letter_stream, int(msg.seq))
                done.append(str(msg.seq))
            return done

        return self._run(work, timeout=300)

    def purge(self, topology: Topology, channel: Channel, ids: Sequence[str] | None) -> list[str]:
        async def work(_nc: Any, js: Any) -> list[str]:
            done = []
            for msg in await self._letters(js, topology, channel, None, ids):
                await js.delete_msg(topology.dead_letter_stream, int(msg.seq))
                done.append(str(msg.seq))
            return done

        return self._run(work, timeout=300)


def _letter(channel: Channel, msg: Any) -> DeadLetter:
    headers = dict(msg.headers or {})
    attributes = {k: v for k, v in headers.items() if not k.startswith(("Nats-", "Mc-"))}
    return DeadLetter(id=str(msg.seq), queue=channel.name, body=msg.data or b"", attributes=attributes,
                      attempts=_attempts(headers.get("Mc-Attempts")), last_error=headers.get("Mc-Last-Error"),
                      time=_time(headers.get("Mc-Failed-At")) or (msg.time.astimezone(timezone.utc)
                                                                  if msg.time else None))


def run_coroutine(main: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from synchronous code, also when this thread already runs an event loop
    (the dashboard's handlers, a Playwright test): then on a thread of its own, with a loop of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())  # type: ignore[arg-type]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="broker-admin") as pool:
        return pool.submit(lambda: asyncio.run(main())).result()  # type: ignore[arg-type]


async def _quiet(_exc: Exception) -> None:
    """nats-py prints connection errors through its error callback; the admin reports them itself."""
