"""What one service needs on its JetStream broker, derived from the spec (pure data, no client).

Per service (every service has its own broker, see docs/events.md):

    queue Q    stream mc-<svc>-queue-<Q>     subject mc.<svc>.queue.<Q>     work-queue retention
               consumer fn-<function>: durable pull, explicit acks, shared by every replica
    stream S   stream mc-<svc>-stream-<S>    subject mc.<svc>.stream.<S>    retained (limits), 24 h
               consumer fn-<function> per reading function, from `starting_position`, one batch in flight
    bucket B   stream mc-<svc>-bucket-<B>    subject mc.<svc>.storage.<B>   interest retention
               consumer fn-<function> per reading function (bucket notifications: MinIO, Ceph RGW)
    dead letters: stream mc-<svc>-dead-letters, subject mc.<svc>.dead.<Q> per queue (and bucket)

Users: `admin` (the deploying host: creates streams, sends, reads dead letters), `runtime` (the
service's functions: pulls and acks its own consumers, publishes dead letters, nothing else) and
`producer` (applications and object stores that publish into the service: publish only).
Names that are not plain tokens (dots, spaces...) are cleaned and suffixed with a hash, so every spec
name maps to one valid, distinct stream name and subject token.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Literal

from multicloud.project import Project
from multicloud.spec import kinds
from multicloud.spec.models import QueueTrigger, StorageTrigger, StreamTrigger

ROOT = "mc"
ChannelKind = Literal["queue", "stream", "storage"]
RUNTIME_INBOX = "_MC_RT"  # the runtime's reply subjects: no other user may subscribe to them
STREAM_MAX_AGE_S = 24 * 3600  # a stream trigger's records are kept a day (Kinesis' default retention)
DEAD_LETTER_MAX_AGE_S = 14 * 24 * 3600  # dead letters are kept 14 days (SQS' longest retention)
STORAGE_MAX_ATTEMPTS = 5  # bucket notifications have no max_attempts in the spec: as many as a queue's default
USERS = ("admin", "runtime", "producer")
INTAKE_KINDS = ("queue", "stream")  # what the runtime's HTTP intake takes (buckets get MinIO's notifications)
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]+")


def token(name: str) -> str:
    """A subject token and stream-name part for a spec name: itself when plain, else cleaned + hash."""
    if TOKEN_RE.fullmatch(name):
        return name
    clean = re.sub(r"[^A-Za-z0-9_-]", "-", name).strip("-") or "x"
    return f"{clean}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


@dataclass(frozen=True)
class Channel:
    """A stream on the broker that one kind of trigger reads."""

    service: str
    kind: ChannelKind
    name: str  # the spec's queue or stream name, or the bucket

    @property
    def stream(self) -> str:
        kind = "bucket" if self.kind == "storage" else self.kind
        return f"{ROOT}-{self.service}-{kind}-{token(self.name)}"

    @property
    def subject(self) -> str:
        return f"{ROOT}.{self.service}.{self.kind}.{token(self.name)}"

    @property
    def retention(self) -> Literal["workqueue", "limits", "interest"]:
        return {"queue": "workqueue", "stream": "limits", "storage": "interest"}[self.kind]  # type: ignore[return-value]

    @property
    def dead_letter_subject(self) -> str:
        return dead_letter_subject(self.service, self.kind, self.name)


def dead_letter_subject(service: str, kind: ChannelKind, name: str) -> str:
    return f"{ROOT}.{service}.dead.{'bucket-' if kind == 'storage' else ''}{token(name)}"


@dataclass(frozen=True)
class Subscription:
    """One function reading one channel through its own durable consumer."""

    function: str
    channel: Channel
    batch_size: int
    timeout: int  # the function's timeout, seconds
    max_attempts: int | None  # None: retried until it succeeds, in order (stream triggers, like Kinesis)
    deliver: Literal["all", "new"] = "all"
    events: tuple[str, ...] = ()  # storage: created / deleted
    prefix: str = ""
    suffix: str = ""

    @property
    def consumer(self) -> str:
        return f"fn-{self.function}"

    @property
    def ordered(self) -> bool:
        """Stream triggers read in order: one batch in flight across all replicas (max_ack_pending)."""
        return self.channel.kind == "stream"

    @property
    def ack_wait(self) -> float:
        """How long JetStream waits for an ack before it redelivers (a runtime that died mid-batch): one
        batch may wait behind another in the runtime, so twice the timeout, plus a margin."""
        return 2.0 * self.timeout + 5.0

    def runtime_json(self) -> dict[str, object]:
        """This subscription as the runtime reads it from runtime.json (`broker.subscriptions`)."""
        return {
            "function": self.function, "kind": self.channel.kind, "name": self.channel.name,
            "stream": self.channel.stream, "consumer": self.consumer, "batch_size": self.batch_size,
            "max_attempts": self.max_attempts, "ordered": self.ordered,
            "dead_letter_subject": self.channel.dead_letter_subject, "events": list(self.events),
            "prefix": self.prefix, "suffix": self.suffix,
        }


@dataclass(frozen=True)
class Topology:
    service: str
    channels: tuple[Channel, ...]
    subscriptions: tuple[Subscription, ...]

    @property
    def empty(self) -> bool:
        return not self.subscriptions

    @property
    def dead_letter_stream(self) -> str:
        return f"{ROOT}-{self.service}-dead-letters"

    @property
    def dead_letter_subjects(self) -> str:
        return f"{ROOT}.{self.service}.dead.>"

    def channel(self, kind: ChannelKind, name: str) -> Channel:
        for channel in self.channels:
            if channel.kind == kind and channel.name == name:
                return channel
        raise KeyError(f"{kind} {name}")

    def subscriptions_of(self, channel: Channel) -> list[Subscription]:
        return [s for s in self.subscriptions if s.channel == channel]

    # ---- what each user may do (rendered into the server's config by config.py) -------------------------
    def runtime_permissions(self) -> tuple[list[str], list[str]]:
        """(publish, subscribe) subjects of the `runtime` user: pull, ack and inspect consumers, publish dead
        letters; replies only on its own inbox prefix. It cannot subscribe to a queue's subject, create or
        change a consumer or stream, or read the dead letters. The broker serves this one service, so any
        consumer on it is one of the service's own (and the configuration does not change when the
        functions' triggers do: no broker restart on deploy)."""
        publish = ["$JS.API.CONSUMER.MSG.NEXT.*.*", "$JS.API.CONSUMER.INFO.*.*", "$JS.ACK.>",
                   self.dead_letter_subjects]
        return publish, [f"{RUNTIME_INBOX}.>"]

    def producer_permissions(self) -> tuple[list[str], list[str]]:
        """(publish, subscribe) of the `producer` user (apps, MinIO): publish into the service's queues,
        streams and buckets, and read JetStream's publish acknowledgements on the default inbox."""
        publish = [f"{ROOT}.{self.service}.{kind}.>" for kind in kinds.EVENT]
        return publish, ["_INBOX.>"]


def topology(project: Project, target: str) -> Topology:
    """The broker topology of `project` on a private target (empty when no function reads events)."""
    service = project.name
    channels: dict[tuple[str, str], Channel] = {}
    subs: list[Subscription] = []
    for fn in project.functions_for(target):
        for trig in fn.triggers:
            cfg = trig.config
            if isinstance(cfg, QueueTrigger):
                ch = channels.setdefault(("queue", cfg.name), Channel(service, "queue", cfg.name))
                subs.append(Subscription(fn.name, ch, cfg.batch_size, fn.timeout, cfg.max_attempts))
            elif isinstance(cfg, StreamTrigger):
                ch = channels.setdefault(("stream", cfg.name), Channel(service, "stream", cfg.name))
                subs.append(Subscription(fn.name, ch, cfg.batch_size, fn.timeout, None,
                                         "all" if cfg.starting_position == "trim_horizon" else "new"))
            elif isinstance(cfg, StorageTrigger):
                ch = channels.setdefault(("storage", cfg.bucket), Channel(service, "storage", cfg.bucket))
                subs.append(Subscription(fn.name, ch, 10, fn.timeout, STORAGE_MAX_ATTEMPTS,
                                         events=tuple(cfg.events), prefix=cfg.prefix, suffix=cfg.suffix))
    return Topology(service, tuple(channels.values()), tuple(subs))


def conflicts(project: Project, target: str) -> list[tuple[str, list[str], str]]:
    """(queue, functions, where) for each queue read by more than one function, or by one function twice:
    a work-queue stream hands each message to one consumer, so on the private targets one function
    reads each queue (and each function reads a stream or bucket once)."""
    seen: dict[tuple[str, str], list[str]] = {}
    for fn in project.functions_for(target):
        for trig in fn.triggers:
            cfg = trig.config
            if isinstance(cfg, (QueueTrigger, StreamTrigger)):
                seen.setdefault((trig.kind, cfg.name), []).append(fn.name)
            elif isinstance(cfg, StorageTrigger):
                seen.setdefault(("storage", cfg.bucket), []).append(fn.name)
    out = []
    for (kind, name), fns in seen.items():
        if (kind == "queue" and len(fns) > 1) or len(set(fns)) < len(fns):
            out.append((f"{kind} {name}", fns, f"functions.{fns[-1]}.triggers"))
    return out


def runtime_section(topo: Topology, servers: list[str], password_ref: str,
                    producer_password_ref: str | None = None) -> dict[str, object]:
    """runtime.json's `broker` object: where to connect, a reference to the runtime user's password
    (`env:` or `file:`, resolved by the runtime at start), and what to consume. With a reference to the
    `producer` user's password, also `intake`: the queues and streams the runtime's HTTP intake
    (`POST /_queues/<q>`, `/_streams/<s>`, multicloud/runtime/intake.py) publishes into as that user."""
    section: dict[str, object] = {
        "servers": servers, "user": "runtime", "password": password_ref, "inbox_prefix": RUNTIME_INBOX,
        "subscriptions": [s.runtime_json() for s in topo.subscriptions]}
    channels = [{"kind": c.kind, "name": c.name, "subject": c.subject} for c in topo.channels
                if c.kind in INTAKE_KINDS]
    if producer_password_ref is not None and channels:
        section["intake"] = {"user": "producer", "password": producer_password_ref, "channels": channels}
    return section
