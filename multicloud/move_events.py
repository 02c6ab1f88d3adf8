"""The event-driven part of `multicloud move`: probe the destination's consumers, drain the source's
queues, and tell producers where to send now.

Why a separate module: `move.py` owns the order of a move (deploy, verify, wait, remove); this one owns
what queues, streams and buckets add to it, so either can change without the other.

* **Probe** (private destinations, `local` and `docker`): for every queue, stream and bucket a function
  reads, one message carrying a `Multicloud-Probe: <nonce>` header is published on the destination's
  broker, exactly where producers publish. The runtime's consumer acknowledges it without calling the
  handler and logs the nonce (multicloud/runtime/consumer.py); the move waits until each reading
  function's log shows its nonce. A probe that does not come back in time fails the move before anything
  on the source is touched.
* **Drain**: once the destination is proven, the source keeps consuming; the move polls the source's
  `pending(queue)` for every queue until all are 0, printing the counts, for at most `drain_timeout`
  seconds. A target that cannot count (gcp: Pub/Sub has no message count) gets a fixed wait instead, as
  long as a message delivered just before the switch may still be retried there, and the move says so.
* **Producers**: where each queue, stream and bucket is read now, for the summary.

Cloud destinations are not probed: see docs/events.md ("Moving event-driven services") for why.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Literal

from multicloud.errors import MulticloudError, OperationError, UnsupportedError
from multicloud.project import Project
from multicloud.provider import Progress, Provider
from multicloud.runtime.consumer import PROBE_HEADER  # what the runtime acknowledges without the handler

PROBED_TARGETS = frozenset({"local", "docker"})
PROBE_TIMEOUT_S = 60.0
DRAIN_TIMEOUT_S = 300.0
POLL_S = 1.0
# A target whose pending() is None: how long a message delivered just before the switch may still be
# redelivered to the source (gcp: Pub/Sub push retries an unanswered message after its ack deadline, 60 s).
UNCOUNTED_WAIT_S = 60.0

Kind = Literal["queue", "stream", "storage"]


@dataclass(frozen=True)
class EventChannel:
    """A queue, stream or bucket that functions of the service read on one target."""

    kind: Kind
    name: str
    functions: tuple[str, ...]


@dataclass(frozen=True)
class Producers:
    """Where producers of one queue, stream or bucket send from now on."""

    kind: Kind
    name: str
    target: str
    address: str  # a NATS subject, or the cloud's name for it
    broker: str | None = None  # the broker's client URL (private targets)
    user: str | None = None  # the broker user producers connect as (private targets)
    password: str | None = None  # where that user's password is (never the password itself)
    send: str = ""  # the `multicloud send` command that puts a message there


@dataclass(frozen=True)
class EventsReport:
    """What the move did for event triggers: probed channels, the source's queues drained, producers."""

    probed: tuple[str, ...] = ()  # "queue orders -> work", one per reading function
    drained: dict[str, str] = field(default_factory=dict)  # queue -> how it emptied
    producers: tuple[Producers, ...] = ()
    note: str = ""


def channels(project: Project, target: str) -> list[EventChannel]:
    """Every queue, stream and bucket read on `target`, with its reading functions, in spec order."""
    found: dict[tuple[Kind, str], list[str]] = {}
    for fn in project.functions_for(target):
        for trigger in fn.triggers:
            key: tuple[Kind, str] | None = None
            if trigger.queue is not None:
                key = ("queue", trigger.queue.name)
            elif trigger.stream is not None:
                key = ("stream", trigger.stream.name)
            elif trigger.storage is not None:
                key = ("storage", trigger.storage.bucket)
            if key is not None and fn.name not in found.setdefault(key, []):
                found[key].append(fn.name)
    return [EventChannel(kind, name, tuple(fns)) for (kind, name), fns in found.items()]


# ---- probe ---------------------------------------------------------------------------------------------
def probe(project: Project, provider: Provider, progress: Progress,
          timeout: float = PROBE_TIMEOUT_S) -> tuple[str, ...]:
    """Send one probe per channel on `provider` and wait until every reading function logged it; raise
    OperationError naming the ones that did not. Returns what was proven ("queue orders -> work")."""
    found = channels(project, provider.name)
    if not found:
        return ()
    if provider.name not in PROBED_TARGETS:
        progress(f"{provider.name}: event triggers are not probed on a cloud (docs/events.md); checked that "
                 "they are deployed and healthy")
        return ()
    since = datetime.now(timezone.utc) - timedelta(seconds=5)  # clocks of a container and the host may differ a bit
    waiting: dict[tuple[str, str], str] = {}  # (function, nonce) -> "queue orders -> work"
    for ch in found:
        nonce = secrets.token_hex(8)
        body = json.dumps({"multicloud": "probe", "nonce": nonce}).encode()
        progress(f"probing {ch.kind} {ch.name} on {provider.name} (read by {', '.join(ch.functions)})")
        provider.send(ch.kind, ch.name, body, {PROBE_HEADER: nonce})  # type: ignore[arg-type]  # storage too
        for fn in ch.functions:
            waiting[(fn, nonce)] = f"{ch.kind} {ch.name} -> {fn}"
    proven: list[str] = []
    deadline = time.monotonic() + timeout
    while waiting:
        for record in provider.logs(None, since, follow=False):
            for fn, nonce in list(waiting):
                if record.function == fn and nonce in record.message and "probe" in record.message:
                    proven.append(waiting.pop((fn, nonce)))
        if not waiting:
            break
        if time.monotonic() > deadline:
            raise OperationError(
                f"no consumer on {provider.name} acknowledged the probe in {timeout:g} s: "
                + "; ".join(sorted(waiting.values())),
                fix=f"check `multicloud logs {project.root} --target {provider.name}` for broker errors "
                    "(the runtime logs `disconnected from the broker` or a consumer 409), fix it, then move again",
                where=provider.name)
        time.sleep(0.3)
    progress(f"{provider.name} consumes: " + ", ".join(proven))
    return tuple(proven)


# ---- drain ---------------------------------------------------------------------------------------------
def drain(project: Project, source: Provider, progress: Progress, timeout: float = DRAIN_TIMEOUT_S,
          destination: str = "the destination", poll: float = POLL_S) -> dict[str, str]:
    """Wait until every queue the source reads is empty (its consumers keep working meanwhile); raise
    OperationError, removing nothing, if one is not empty after `timeout` seconds."""
    queues = [ch.name for ch in channels(project, source.name) if ch.kind == "queue"]
    if not queues:
        return {}
    started = time.monotonic()
    deadline = started + timeout
    done: dict[str, str] = {}
    uncounted: list[str] = []
    last = ""
    while True:
        counts: dict[str, int] = {}
        for q in queues:
            if q in done or q in uncounted:
                continue
            n = source.pending(q)
            if n is None:
                uncounted.append(q)
            elif n == 0:
                done[q] = f"empty after {time.monotonic() - started:.0f} s"
            else:
                counts[q] = n
        if not counts:
            break
        line = ", ".join(f"{q}: {n} pending" for q, n in counts.items())
        if line != last:
            progress(f"draining {source.name} (it keeps consuming): {line}")
            last = line
        if time.monotonic() > deadline:
            raise OperationError(
                f"the queues on {source.name} did not empty in {timeout:g} s ({line}); nothing was removed: "
                f"{source.name} and {destination} both consume now",
                fix=f"see why {source.name} does not consume (`multicloud logs {project.root} --target "
                    f"{source.name}`, `multicloud dead-letters`), then run the same `multicloud move` again (the "
                    "destination is already deployed; it waits again, longer with --drain-timeout S); or, to "
                    f"drop what is left, `multicloud remove {project.root} --target {source.name}`",
                where=source.name)
        time.sleep(poll)
    if done:
        progress(f"{source.name}: queue(s) empty: {', '.join(done)}")
    if uncounted:
        wait = min(UNCOUNTED_WAIT_S, max(0.0, deadline - time.monotonic()))
        progress(f"{source.name} cannot count what waits in {', '.join(uncounted)}: waiting {wait:.0f} s (a "
                 "message delivered before the switch may be retried there until its ack deadline)")
        time.sleep(wait)
        done.update({q: f"not countable on {source.name}: waited {wait:.0f} s" for q in uncounted})
    _refuse_dead_letters(project, source, queues)
    return done


def _refuse_dead_letters(project: Project, source: Provider, queues: list[str]) -> None:
    """Removing the source deletes its dead letters: refuse while there are any (the user decides)."""
    held: list[str] = []
    for q in queues:
        try:
            if source.dead_letters(q, limit=1):
                held.append(q)
        except UnsupportedError:
            continue
    if held:
        raise OperationError(
            f"{source.name} holds dead letters of {', '.join(held)}; removing it would delete them, so nothing "
            "was removed",
            fix=f"send them back (`multicloud dead-letters {project.root} -t {source.name} --retry`: the source "
                f"still consumes) or drop them (`--purge --yes`), then run the same `multicloud move` again",
            where=source.name)


# ---- producers -----------------------------------------------------------------------------------------
def producers(project: Project, provider: Provider) -> tuple[Producers, ...]:
    """Where each queue, stream and bucket of the service is read on `provider` (the move's destination)."""
    out: list[Producers] = []
    private = provider.name in PROBED_TARGETS
    broker = _broker_url(provider) if private and channels(project, provider.name) else None
    for ch in channels(project, provider.name):
        flag = {"queue": "--queue", "stream": "--stream"}.get(ch.kind)
        send = (f"multicloud send {project.root} -t {provider.name} {flag} {ch.name} -d BODY" if flag else "")
        if private:
            from multicloud.broker.topology import Channel

            subject = Channel(project.name, ch.kind, ch.name).subject
            where = (f"{project.root}/.multicloud/local/broker/passwords.json" if provider.name == "local"
                     else f"the engine's volume mc-{project.name}-broker-secrets (docs/events.md)")
            out.append(Producers(ch.kind, ch.name, provider.name, subject, broker, "producer",
                                 f"`producer` in {where}", send))
        else:
            out.append(Producers(ch.kind, ch.name, provider.name, ch.name, send=send))
    return tuple(out)


def _broker_url(provider: Provider) -> str | None:
    servers = getattr(provider, "broker_servers", None)
    if servers is None:
        return None
    try:
        return ", ".join(servers())
    except MulticloudError:
        return None


def summary(report: EventsReport, source: str) -> str:
    """The producers' part of the CLI summary."""
    if not report.producers:
        return ""
    lines = ["producers now send to:"]
    for p in report.producers:
        where = f"subject {p.address} at {p.broker} as {p.user}" if p.broker else p.address
        lines.append(f"  {p.kind} {p.name}: {where}" + (f"  (or: {p.send})" if p.send else ""))
    lines.append(f"  messages still sent to {source} were consumed there until it was removed; "
                 f"after that they fail: switch every producer")
    return "\n".join(lines)
