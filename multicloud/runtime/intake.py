"""The private runtime's HTTP intake: `POST /_queues/<queue>` and `POST /_streams/<stream>` publish the body
into the service's broker, so a client holding only the endpoints manifest and the service's key can put a
message where a function reads it (the JavaScript client, `Client.from_manifest(...).send`, curl).

    POST /_queues/orders-to-fulfil            X-Multicloud-Key: KEY (or Authorization: Bearer KEY)
    X-Multicloud-Attr-Tenant: acme            one attribute per header (names arrive lower-cased)
    <body: the message, as is>
    -> 202 {"queue": "orders-to-fulfil", "seq": 42}   (streams: {"stream": ..., "seq": ...})

Why an intake in the runtime rather than the broker's own port: the broker speaks NATS, not HTTP, and its
client port is for the deploying host and object stores (a browser cannot speak it). The runtime already
serves HTTP with the service's key, limits and access log, and sits on the service's network next to the
broker. It publishes as the broker's `producer` user (publish into the service's queues, streams and
buckets only; its password is a secret reference resolved at start, like the runtime user's), on its own
connection: the consumer's `runtime` user keeps its narrower rights.

Always keyed: the intake answers 401 without the service's key and 403 when the runtime holds no key at
all (it never takes unauthenticated messages). A message is published through JetStream and answered 202
only once the broker has stored it; 503 when the broker is not connected (nothing was stored: a client
may try another target), 504 when the broker did not confirm in time (it may have been stored).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from multicloud.runtime.http import unquote

PREFIXES = {"/_queues/": "queue", "/_streams/": "stream"}
ATTR_PREFIX = "x-multicloud-attr-"
ATTR_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
ATTR_VALUE_RE = re.compile(r"[\x20-\x7e]{0,1024}")  # printable ASCII: what every HTTP stack carries intact
MAX_ATTRS = 32
RESERVED = ("nats-", "mc-")  # JetStream's own headers, and the dead-letter headers the consumer writes
PUBLISH_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 30.0


class IntakeError(Exception):
    """An answer the intake gives instead of publishing: status and a message for the JSON body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class IntakeChannel:
    kind: str  # queue | stream
    name: str  # the spec's name
    subject: str  # where it is published (multicloud.broker.topology.Channel.subject)


@dataclass(frozen=True)
class IntakeConfig:
    """runtime.json's `broker.intake`: the producer user, a reference to its password, the channels."""

    user: str
    password_ref: str
    channels: tuple[IntakeChannel, ...]

    def channel(self, kind: str, name: str) -> IntakeChannel:
        for channel in self.channels:
            if channel.kind == kind and channel.name == name:
                return channel
        known = sorted(c.name for c in self.channels if c.kind == kind)
        raise IntakeError(404, f"no {kind} {name!r} on this service (its {kind}s: {', '.join(known) or 'none'})")


def parse_intake(raw: object, where: str = "broker.intake") -> IntakeConfig:
    """`broker.intake` of runtime.json. Raises ValueError naming the field."""
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected an object")
    ref = raw.get("password")
    if not isinstance(ref, str) or not re.match(r"^(env|file):.+", ref):
        raise ValueError(f"{where}.password: must be a reference (env:NAME or file:/path), never the password")
    channels = []
    for i, item in enumerate(raw.get("channels") or []):
        if (not isinstance(item, dict) or item.get("kind") not in ("queue", "stream")
                or not all(isinstance(item.get(k), str) for k in ("name", "subject"))):
            raise ValueError(f"{where}.channels[{i}]: expected {{kind: queue|stream, name, subject}}")
        channels.append(IntakeChannel(item["kind"], item["name"], item["subject"]))
    return IntakeConfig(str(raw.get("user", "producer")), ref, tuple(channels))


def route_of(path: str) -> tuple[str, str] | None:
    """(kind, name) for an intake path, else None. The name is one percent-decoded path segment."""
    for prefix, kind in PREFIXES.items():
        if path.startswith(prefix):
            return kind, unquote(path[len(prefix):])
    return None


def attributes(headers: Sequence[tuple[str, str]]) -> dict[str, str]:
    """The message's attributes from `X-Multicloud-Attr-<name>` headers (names lower-cased, as HTTP
    stacks deliver them). Raises IntakeError(400) for a name or value that cannot travel."""
    out: dict[str, str] = {}
    for key, value in headers:
        if not key.startswith(ATTR_PREFIX):
            continue
        name = key[len(ATTR_PREFIX):]
        if not ATTR_NAME_RE.fullmatch(name) or name.startswith(RESERVED):
            raise IntakeError(400, f"attribute header {key!r}: the name must be letters, digits, '-' or '_' (up to "
                                   "64), not starting with nats- or mc-")
        if not ATTR_VALUE_RE.fullmatch(value):
            raise IntakeError(400, f"attribute {name!r}: the value must be printable ASCII, up to 1024 characters")
        out[name] = value
    if len(out) > MAX_ATTRS:
        raise IntakeError(400, f"{len(out)} attributes: at most {MAX_ATTRS}")
    return out


Log = Callable[[dict[str, object]], None]


class Intake:
    """The producer connection and the publish; created by the server when runtime.json has `broker.intake`."""

    def __init__(self, servers: Sequence[str], config: IntakeConfig, password: str, log: Log, *,
                 name: str = "multicloud-intake") -> None:
        self.servers = list(servers)
        self.config = config
        self.password = password
        self.log = log
        self.name = name
        self.nc: Any = None
        self.js: Any = None
        self.in_flight = 0

    @property
    def max_payload(self) -> int:
        """The broker's largest message (nats-server's max_payload, 1 MB as multicloud configures it)."""
        return int(getattr(self.nc, "max_payload", 0) or 1024 * 1024)

    async def connect(self, timeout: float = CONNECT_TIMEOUT_S) -> None:
        import nats

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                self.nc = await nats.connect(
                    servers=self.servers, user=self.config.user, password=self.password, name=self.name,
                    connect_timeout=2, allow_reconnect=True, max_reconnect_attempts=-1, reconnect_time_wait=0.5,
                    error_cb=self._error, disconnected_cb=self._noop, reconnected_cb=self._noop)
                break
            except Exception as exc:
                if "authorization" in str(exc).lower():
                    raise RuntimeError(f"the broker refused the intake's producer credentials: {exc}") from exc
                if loop.time() > deadline:
                    raise RuntimeError(f"the broker did not answer the intake within {timeout:g} s: "
                                       f"{type(exc).__name__}: {exc}") from exc
                await asyncio.sleep(0.5)
        self.js = self.nc.jetstream()

    async def publish(self, channel: IntakeChannel, body: bytes, attrs: Mapping[str, str]) -> int:
        """Publish through JetStream; the stream sequence once stored. IntakeError 413/503/504 otherwise."""
        from nats.errors import NoRespondersError
        from nats.errors import TimeoutError as NatsTimeout

        if len(body) > self.max_payload:
            raise IntakeError(413, f"message over the broker's {self.max_payload} byte limit")
        if self.nc is None or not self.nc.is_connected:
            raise IntakeError(503, "the broker is not connected: nothing was stored, try again or another target")
        self.in_flight += 1
        try:
            ack = await self.js.publish(channel.subject, body, headers=dict(attrs) or None, timeout=PUBLISH_TIMEOUT_S)
        except NoRespondersError as exc:
            raise IntakeError(503, f"no stream stores {channel.kind} {channel.name!r} on the broker "
                                   "(deploy again)") from exc
        except (NatsTimeout, asyncio.TimeoutError) as exc:
            raise IntakeError(504, f"the broker did not confirm within {PUBLISH_TIMEOUT_S:g} s: the message may "
                                   "have been stored") from exc
        finally:
            self.in_flight -= 1
        return int(ack.seq)

    async def close(self, grace: float = 0.5) -> None:
        """After the drain started: let the last requests publish, then flush and close."""
        loop = asyncio.get_running_loop()
        await asyncio.sleep(grace)  # kept-alive connections may still send one request during the grace
        until = loop.time() + PUBLISH_TIMEOUT_S
        while self.in_flight and loop.time() < until:
            await asyncio.sleep(0.02)
        if self.nc is not None and not self.nc.is_closed:
            try:
                await self.nc.drain()
            except Exception:  # noqa: BLE001 - closing anyway
                await self.nc.close()

    async def _error(self, exc: Exception) -> None:
        self.log({"level": "WARNING", "type": "intake", "message": "broker connection error",
                  "error": f"{type(exc).__name__}: {exc}"})

    async def _noop(self) -> None:
        return None


# ---- the HTTP side, called by the server's routing (server_app.RuntimeApp._route) ------------------------
Respond = Callable[[int, bytes, list[tuple[str, str]]], Awaitable[None]]
JSON = [("Content-Type", "application/json")]


def _error(status: int, message: str) -> tuple[int, bytes]:
    return status, json.dumps({"error": message}).encode()


async def serve(intake: Intake | None, has_key: bool, authorized: bool, method: str, kind: str, name: str,
                headers: Sequence[tuple[str, str]], read_body: Callable[[], Awaitable[bytes | None]],
                respond: Respond) -> None:
    """One intake request. `read_body()` reads the body under the runtime's limit (None: it answered 413
    itself, or the client left); the broker's smaller limit is checked before publishing (413 too)."""
    extra: list[tuple[str, str]] = []
    if method != "POST":
        status, body = _error(405, f"POST the message to /_{kind}s/<name>")
        return await respond(status, body, [("Allow", "POST")])
    if intake is None:
        status, body = _error(404, "this runtime takes no messages over HTTP (no function reads a queue or stream "
                                   "here, or it runs without a broker, as `multicloud dev` does): use "
                                   "`multicloud send`")
        return await respond(status, body, extra)
    if not has_key:
        status, body = _error(403, "the intake needs the service's key and this runtime holds none: it never takes "
                                   "unauthenticated messages (see docs/client.md, Sending a message)")
        return await respond(status, body, extra)
    if not authorized:
        status, body = _error(401, "missing or wrong key")
        return await respond(status, body, [("WWW-Authenticate", "Bearer")])
    try:
        channel = intake.config.channel(kind, name)
        attrs = attributes(headers)
    except IntakeError as err:
        status, body = _error(err.status, err.message)
        return await respond(status, body, extra)
    payload = await read_body()
    if payload is None:
        return None
    try:
        seq = await intake.publish(channel, payload, attrs)
    except IntakeError as err:
        status, body = _error(err.status, err.message)
        return await respond(status, body, extra)
    await respond(202, json.dumps({kind: name, "seq": seq}).encode(), extra)
