"""Queue, stream and storage triggers on the private targets: a JetStream pull consumer inside the runtime.

Every replica of a service runs this inside its runtime process and pulls from the same durable consumers,
so replicas share the work (a work-queue stream hands each message to one of them). Per subscription:

* Pulling: one inbox, continuous pull requests keeping at most `capacity` messages requested, buffered or
  being handled (nats-py's `fetch` waits for a full batch or its timeout, which would add up to that
  timeout to every message's latency at low rates; continuous pulls with idle heartbeats are how the Go
  client's `Consume` works). A batch is whatever is already there when a worker is free, up to
  `batch_size`: no batching window, as with Lambda's SQS default. Lost pull requests (a broker restart, a
  leader change) are detected by missing heartbeats and re-issued.
* Delivery: at least once. A batch's outcome acks the messages that succeeded; a `BatchResult` retries
  only the ids it names, an exception retries the whole batch. Retries are `-NAK` with a delay that
  doubles per attempt (1 s, 2 s, 4 s... up to 60 s).
* Dead letters: the attempt count is JetStream's own delivery count. A queue message that failed its
  `max_attempts`-th attempt goes, with its last error and attempt count in headers, to the service's
  dead-letter stream (a JetStream publish, acknowledged), and only then is it terminated. A message
  delivered again after its attempts ran out without an answer (the runtime was killed mid-batch, or the
  handler overran) is dead-lettered without calling the handler again. JetStream's own `max_deliver` is
  left unlimited on purpose: a message past it would stay in the work queue, invisible and never
  dead-lettered.
* Streams (`ordered`): one batch in flight across all replicas (the consumer's max_ack_pending is the batch
  size). On a failure the runtime retries the failed record and every record after it, in order, with the
  same backoff, until they succeed (Kinesis' behaviour), holding the batch's acks meanwhile: no replica
  reads past a failed record, and no record is handled after a later one.
* Storage: each message is an S3-format bucket notification (MinIO's JSON); each record the trigger's
  filter accepts is one storage event.
* Probes: a message with a `Multicloud-Probe: <nonce>` header (what `multicloud move` sends to check that a
  destination consumes) is acknowledged without calling the handler and logged with its nonce, whatever
  the trigger kind: the real broker path is proven without running user code on fake data.

Start, drain and stop are coroutines; the server runs them on its own event loop, the one uvicorn serves
HTTP on, as a background service (server_broker.py). The handler runs through `invoke`
(`RuntimeApp.invoke`), which applies the server's concurrency slots and the function's timeout.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from multicloud.runtime.events import Event, Message
from multicloud.runtime.invoke import rfc3339
from multicloud.runtime.server_config import BrokerConfig, BrokerSubscription

RETRY_BASE_S = 1.0
RETRY_MAX_S = 60.0
PULL_EXPIRES_S = 20.0
HEARTBEAT_S = 2.0
HEADER_LIMIT = 900  # bytes of the last error kept in a dead letter's header
PROBE_HEADER = "Multicloud-Probe"  # see docs/events.md, "Moving event-driven services"
DEAD_LETTER_HEADERS = ("Mc-Kind", "Mc-Name", "Mc-Function", "Mc-Attempts", "Mc-Last-Error", "Mc-Failed-At",
                       "Mc-Stream", "Mc-Sequence")


@dataclass
class Outcome:
    """What one handler call did: `failed` message ids (empty: all good), or None when every message
    failed (an exception, a timeout); `error` says why, for the dead letter."""

    failed: list[str] | None
    error: str | None = None


Invoke = Callable[[str, Event], Awaitable[Outcome]]
Log = Callable[[dict[str, object]], None]


class StartError(Exception):
    """The consumer cannot start: the broker does not answer, refuses the credentials, or a consumer is missing."""


def retry_delay(attempt: int) -> float:
    return float(min(RETRY_BASE_S * 2 ** max(attempt - 1, 0), RETRY_MAX_S))


def one_line(text: str, limit: int = HEADER_LIMIT) -> str:
    """A header value: no line breaks, bounded."""
    flat = " ".join(text.split())
    return flat if len(flat.encode()) <= limit else flat.encode()[:limit].decode(errors="ignore") + "..."


@dataclass
class Stats:
    handled: int = 0
    failed: int = 0
    dead_lettered: int = 0
    batches: int = 0
    latency_ms: list[float] = field(default_factory=list)  # publish -> handler start, sampled (bench)


class Puller:
    """One subscription: keeps pull requests outstanding, hands batches to `workers` tasks."""

    def __init__(self, owner: Consumer, sub: BrokerSubscription, workers: int) -> None:
        self.owner = owner
        self.sub = sub
        self.workers = 1 if sub.ordered else max(1, workers)
        self.capacity = sub.batch_size * self.workers
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.outstanding = 0  # requested, not yet delivered
        self.in_process = 0
        self.last_seen = time.monotonic()
        self.last_pull = 0.0
        self.running = False
        self.wake = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self.inbox_sub: Any = None
        self.next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{sub.stream}.{sub.consumer}"

    async def start(self) -> None:
        nc = self.owner.nc
        self.inbox = f"{self.owner.config.inbox_prefix}.{os.urandom(8).hex()}"
        self.inbox_sub = await nc.subscribe(self.inbox, cb=self._on_message, pending_msgs_limit=-1,
                                            pending_bytes_limit=-1)
        self.running = True
        self.tasks = [asyncio.create_task(self._pull_loop())]
        self.tasks += [asyncio.create_task(self._work()) for _ in range(self.workers)]

    def reset(self) -> None:
        """Pull requests were lost (reconnect): ask again."""
        self.outstanding = 0
        self.wake.set()

    async def _on_message(self, msg: Any) -> None:
        self.last_seen = time.monotonic()
        headers = msg.headers or {}
        status = headers.get("Status")
        if not status and msg.reply:
            self.outstanding = max(0, self.outstanding - 1)
            if not self.running:  # draining: give it back at once, another replica takes it
                await msg.nak()
                return
            self.queue.put_nowait(msg)
            return
        if status == "100":  # idle heartbeat (or flow control)
            return
        pending = headers.get("Nats-Pending-Messages")
        if pending is not None and pending.isdigit():
            self.outstanding = max(0, self.outstanding - int(pending))
        else:  # 409s without counts (consumer deleted, leadership change...): start over
            self.outstanding = 0
            if status == "409":
                self.owner.log({"level": "WARNING", "type": "broker", "function": self.sub.function,
                                "stream": self.sub.stream, "status": status,
                                "message": headers.get("Description", "")})
        self.wake.set()

    async def _pull_loop(self) -> None:
        nc = self.owner.nc
        while self.running:
            now = time.monotonic()
            if (self.outstanding and now - self.last_seen > 3 * HEARTBEAT_S
                    and now - self.last_pull > 3 * HEARTBEAT_S):
                self.outstanding = 0  # no heartbeat for our requests: they are gone
            free = self.capacity - self.outstanding - self.queue.qsize() - self.in_process
            if free >= min(self.sub.batch_size, self.capacity) and nc.is_connected:
                request = {"batch": free, "expires": int(PULL_EXPIRES_S * 1e9),
                           "idle_heartbeat": int(HEARTBEAT_S * 1e9)}
                try:
                    await nc.publish(self.next_subject, json.dumps(request).encode(), reply=self.inbox)
                    self.outstanding += free
                    self.last_pull = self.last_seen = time.monotonic()
                except Exception as exc:  # noqa: BLE001 - disconnected: the reconnect resets us
                    self.owner.log({"level": "WARNING", "type": "broker", "function": self.sub.function,
                                    "message": f"pull request failed: {type(exc).__name__}"})
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), HEARTBEAT_S)
            except asyncio.TimeoutError:
                pass

    async def _work(self) -> None:
        while True:
            msg = await self.queue.get()
            if msg is None:
                return
            batch = [msg]
            while len(batch) < self.sub.batch_size and not self.queue.empty():
                nxt = self.queue.get_nowait()
                if nxt is None:
                    self.queue.put_nowait(None)  # for the next worker
                    break
                batch.append(nxt)
            self.in_process += len(batch)
            try:
                await self.owner.handle(self.sub, batch)
            except Exception as exc:  # noqa: BLE001 - never let one batch stop the worker
                self.owner.log({"level": "ERROR", "type": "broker", "function": self.sub.function,
                                "message": f"batch handling failed: {type(exc).__name__}: {exc}"})
            finally:
                self.in_process -= len(batch)
                self.wake.set()

    async def drain(self) -> None:
        """Stop pulling, give back what is buffered, let the batches being handled finish."""
        self.running = False
        self.wake.set()
        if self.inbox_sub is not None:
            try:
                await self.inbox_sub.unsubscribe()  # the broker drops our pending pull requests
            except Exception:  # noqa: BLE001 - connection gone: nothing left to unsubscribe
                pass
        while not self.queue.empty():
            msg = self.queue.get_nowait()
            if msg is not None:
                try:
                    await msg.nak()
                except Exception:  # noqa: BLE001 - redelivered after ack_wait instead
                    pass
        for _ in range(self.workers):
            self.queue.put_nowait(None)
        await asyncio.gather(*self.tasks, return_exceptions=True)


class Consumer:
    """The runtime's event consumer: connect, bind every subscription, handle batches, drain."""

    def __init__(self, config: BrokerConfig, password: str, invoke: Invoke, log: Log, *, source: str,
                 new_id: Callable[[], str], workers: int = 2, name: str = "multicloud-runtime") -> None:
        self.config = config
        self.password = password
        self.invoke = invoke
        self.log = log
        self.source = source
        self.new_id = new_id
        self.worker_count = workers
        self.name = name
        self.nc: Any = None
        self.js: Any = None
        self.pullers: list[Puller] = []
        self.stats = Stats()
        self.sample_latency = False
        self.closing = False

    # ---- lifecycle ---------------------------------------------------------------------------------------
    async def start(self, timeout: float = 30.0) -> None:
        """Connect (retrying until `timeout`), check every consumer exists, start pulling."""
        import nats
        from nats.errors import NoServersError

        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while True:
            try:
                self.nc = await nats.connect(
                    servers=list(self.config.servers), user=self.config.user, password=self.password,
                    name=self.name, inbox_prefix=self.config.inbox_prefix, connect_timeout=2,
                    allow_reconnect=True, max_reconnect_attempts=-1, reconnect_time_wait=0.5,
                    reconnected_cb=self._reconnected, disconnected_cb=self._disconnected,
                    error_cb=self._error, pending_size=8 * 1024 * 1024)
                break
            except (OSError, NoServersError, asyncio.TimeoutError) as exc:
                last = exc
            except Exception as exc:
                if "authorization" in str(exc).lower():
                    raise StartError(f"the broker refused the runtime's credentials: {exc}") from exc
                last = exc
            if time.monotonic() > deadline:
                raise StartError(f"cannot reach the broker at {', '.join(self.config.servers)}: "
                                 f"{type(last).__name__}: {last}") from last
            await asyncio.sleep(0.5)
        self.js = self.nc.jetstream(timeout=5)
        for sub in self.config.subscriptions:
            await self._check_consumer(sub, deadline)
        for sub in self.config.subscriptions:
            puller = Puller(self, sub, self.worker_count)
            await puller.start()
            self.pullers.append(puller)
        self.log({"level": "INFO", "type": "broker", "message": "consuming",
                  "subscriptions": [f"{s.function}<-{s.kind}:{s.name}" for s in self.config.subscriptions]})

    async def _check_consumer(self, sub: BrokerSubscription, deadline: float) -> None:
        from nats.js.errors import NotFoundError

        while True:
            try:
                await self.js.consumer_info(sub.stream, sub.consumer, timeout=2)
                return
            except NotFoundError as exc:
                raise StartError(f"consumer {sub.consumer} of stream {sub.stream} does not exist on the broker "
                                 "(deploy creates it)") from exc
            except Exception as exc:  # noqa: BLE001 - a cluster electing leaders answers 503 or not at all
                if time.monotonic() > deadline:
                    raise StartError(f"the broker does not answer for {sub.stream}/{sub.consumer}: "
                                     f"{type(exc).__name__}: {exc}") from exc
                await asyncio.sleep(0.5)

    async def drain(self) -> None:
        for puller in self.pullers:
            await puller.drain()
        self.closing = True
        if self.nc is not None and not self.nc.is_closed:
            try:
                await self.nc.flush(timeout=5)  # the last acks reach the broker before we go
            except Exception:  # noqa: BLE001
                pass
            await self.nc.close()
        self.log({"level": "INFO", "type": "broker", "message": "drained", "handled": self.stats.handled,
                  "failed": self.stats.failed, "dead_lettered": self.stats.dead_lettered})

    async def stop(self) -> None:
        for puller in self.pullers:
            puller.running = False
            for task in puller.tasks:
                task.cancel()
        if self.nc is not None and not self.nc.is_closed:
            await self.nc.close()

    async def _reconnected(self) -> None:
        self.log({"level": "INFO", "type": "broker", "message": "reconnected",
                  "server": str(getattr(self.nc, "connected_url", "") or "")})
        for puller in self.pullers:
            puller.reset()

    async def _disconnected(self) -> None:
        if self.closing:
            return
        self.log({"level": "WARNING", "type": "broker", "message": "disconnected from the broker"})

    async def _error(self, exc: Exception) -> None:
        self.log({"level": "WARNING", "type": "broker", "message": f"{type(exc).__name__}: {exc}"})

    # ---- one batch ---------------------------------------------------------------------------------------
    async def handle(self, sub: BrokerSubscription, batch: list[Any]) -> None:
        started = time.perf_counter()
        if self.sample_latency:
            now = time.time()
            for msg in batch:
                self.stats.latency_ms.append((now - msg.metadata.timestamp.timestamp()) * 1000)
        due = []
        for msg in batch:
            if PROBE_HEADER in (msg.headers or {}):
                await self._probe(sub, msg)
                continue
            attempt = msg.metadata.num_delivered
            if sub.max_attempts is not None and attempt > sub.max_attempts:
                await self._dead_letter(sub, msg, sub.max_attempts, "no answer from the handler in its last "
                                        "attempt (the runtime stopped, was killed, or the handler overran)")
            else:
                due.append(msg)
        if not due:
            return
        if sub.kind == "storage":
            for msg in due:
                await self._storage(sub, msg)
            return
        messages = [self._message(msg) for msg in due]
        if sub.ordered:
            await self._ordered(sub, due, messages, started)
            return
        failed, error = await self._call(sub, messages)
        for msg, message in zip(due, messages, strict=True):
            if message.id in failed:
                await self._failed(sub, msg, error)
            else:
                await msg.ack()
        self.stats.batches += 1
        self.stats.handled += len(due) - len(failed)
        self.log({"level": "ERROR" if failed else "INFO", "type": "event", "function": sub.function,
                  "message": "batch failed in part" if failed else "batch handled",
                  "kind": sub.kind, "name": sub.name, "messages": len(due), "failed": len(failed),
                  "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                  **({"error": one_line(error, 300)} if failed else {})})

    async def _probe(self, sub: BrokerSubscription, msg: Any) -> None:
        """A move's probe: acknowledged (so it leaves the queue) and logged with its nonce, never handled."""
        await msg.ack()
        self.log({"level": "INFO", "type": "probe", "function": sub.function, "kind": sub.kind, "name": sub.name,
                  "message": "probe acknowledged without calling the handler",
                  "probe": one_line(str(msg.headers[PROBE_HEADER]), 100)})

    async def _call(self, sub: BrokerSubscription, messages: list[Message]) -> tuple[set[str], str]:
        """One handler call with a batch: (ids that failed, why)."""
        event = Event(sub.kind, id=self.new_id(), source=f"{self.source}/{sub.kind}s/{sub.name}", time=rfc3339(),
                      data={"messages": [m.raw for m in messages]}, messages=messages)
        outcome = await self.invoke(sub.function, event)
        failed = set(messages_ids(messages) if outcome.failed is None else outcome.failed)
        return failed, outcome.error or "the handler reported it failed (BatchResult)"

    async def _ordered(self, sub: BrokerSubscription, due: list[Any], messages: list[Message],
                       started: float) -> None:
        """A stream batch: retried here, from its first failed record on, until it all succeeds. Nothing is
        acknowledged before that, so the consumer's one-batch window stays full and no replica can read
        past the failure; the held messages are kept alive with in-progress acks. A drain gives them back
        (every replica then starts again from the first unacknowledged record)."""
        remaining, attempt = messages, 0
        puller = next(p for p in self.pullers if p.sub is sub)
        while remaining:
            attempt += 1
            failed, error = await self._call(sub, remaining)
            if not failed:
                break
            first = next(i for i, m in enumerate(remaining) if m.id in failed)
            remaining = remaining[first:]
            self.stats.failed += 1
            self.log({"level": "ERROR", "type": "event", "function": sub.function, "kind": sub.kind,
                      "message": "records failed, retrying in order", "name": sub.name,
                      "messages": len(remaining), "failed": len(remaining), "attempt": attempt,
                      "retry_in_s": retry_delay(attempt), "error": one_line(error, 300)})
            wait_until = time.monotonic() + retry_delay(attempt)
            while time.monotonic() < wait_until:
                if not puller.running:
                    for msg in due:
                        await msg.nak()
                    return
                for msg in due:
                    await msg.in_progress()
                await asyncio.sleep(min(1.0, max(0.0, wait_until - time.monotonic())))
        for msg in due:
            await msg.ack()
        self.stats.batches += 1
        self.stats.handled += len(due)
        self.log({"level": "INFO", "type": "event", "function": sub.function, "kind": sub.kind, "name": sub.name,
                  "message": "batch handled", "messages": len(due), "failed": 0, "attempts": attempt,
                  "duration_ms": round((time.perf_counter() - started) * 1000, 3)})

    def _message(self, msg: Any) -> Message:
        meta = msg.metadata
        headers = {k: v for k, v in (msg.headers or {}).items() if not k.startswith("Nats-")}
        seq = str(meta.sequence.stream)
        raw = {"id": seq, "subject": msg.subject, "sequence": seq, "attempt": meta.num_delivered,
               "time": rfc3339(meta.timestamp.timestamp()), "attributes": headers}
        return Message(seq, msg.data, attributes=headers, partition_key=headers.get("partition-key"),
                       sequence=seq, time=raw["time"], raw=raw)  # type: ignore[arg-type]

    async def _storage(self, sub: BrokerSubscription, msg: Any) -> None:
        from multicloud.runtime.s3_records import NotARecord, matches, to_events

        started = time.perf_counter()
        try:
            events = [e for e in to_events(json.loads(msg.data), source_prefix=self.source + "/buckets")
                      if matches(e, sub.events, sub.prefix, sub.suffix)]
        except (ValueError, NotARecord) as exc:
            await self._dead_letter(sub, msg, msg.metadata.num_delivered, f"not an S3 bucket notification: {exc}")
            return
        error = None
        for event in events:
            outcome = await self.invoke(sub.function, event)
            if outcome.failed is None or outcome.failed:
                error = outcome.error or "the handler failed"
                break
        if error is None:
            await msg.ack()
            self.stats.handled += 1
        else:
            await self._failed(sub, msg, error)
        self.log({"level": "ERROR" if error else "INFO", "type": "event", "function": sub.function,
                  "message": "notification failed" if error else "notification handled",
                  "kind": "storage", "name": sub.name, "records": len(events), "failed": int(error is not None),
                  "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                  **({"error": one_line(error, 300)} if error else {})})

    async def _failed(self, sub: BrokerSubscription, msg: Any, error: str) -> None:
        attempt = msg.metadata.num_delivered
        self.stats.failed += 1
        if sub.max_attempts is not None and attempt >= sub.max_attempts:
            await self._dead_letter(sub, msg, attempt, error)
        else:
            await msg.nak(delay=retry_delay(attempt))

    async def _dead_letter(self, sub: BrokerSubscription, msg: Any, attempts: int, error: str) -> None:
        """Publish to the dead-letter stream (acknowledged, deduplicated by origin), then terminate the original;
        if the dead-letter publish fails, the original is retried later instead (never dropped)."""
        meta = msg.metadata
        headers = {k: v for k, v in (msg.headers or {}).items() if not k.startswith("Nats-")}
        headers.update({
            "Mc-Kind": sub.kind, "Mc-Name": sub.name, "Mc-Function": sub.function, "Mc-Attempts": str(attempts),
            "Mc-Last-Error": one_line(error), "Mc-Failed-At": rfc3339(), "Mc-Stream": sub.stream,
            "Mc-Sequence": str(meta.sequence.stream),
            "Nats-Msg-Id": f"{sub.stream}-{meta.sequence.stream}",
        })
        try:
            await self.js.publish(sub.dead_letter_subject, msg.data, headers=headers, timeout=5)
        except Exception as exc:  # noqa: BLE001 - broker busy or gone: keep the message, try again later
            self.log({"level": "WARNING", "type": "broker", "function": sub.function,
                      "message": f"dead-letter publish failed ({type(exc).__name__}); retrying the message later"})
            await msg.nak(delay=retry_delay(attempts))
            return
        await msg.term()
        self.stats.dead_lettered += 1
        self.log({"level": "ERROR", "type": "dead-letter", "message": "moved to the dead letters",
                  "function": sub.function, "kind": sub.kind,
                  "name": sub.name, "sequence": meta.sequence.stream, "attempts": attempts,
                  "error": one_line(error, 300)})


def messages_ids(messages: list[Message]) -> list[str]:
    return [m.id for m in messages]
