"""`runtime.json`: what the private HTTP runtime serves, read once at start.

Written by `multicloud.private_runtime.runtime_config` at build time (core side) and read here, inside the
artifact (stdlib only). It holds references to secrets, never values: the auth key and the functions'
secrets are resolved from `env:`/`file:` references when the server starts. The format is documented in
docs/private-runtime.md.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from multicloud.runtime.intake import IntakeConfig, parse_intake

FORMAT = 1
DEFAULT_MAX_BODY = 6 * 1024 * 1024
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
STYLES = ("portable", "aws", "wsgi", "asgi")


class ConfigError(Exception):
    """runtime.json is missing, malformed, or names something that cannot be served."""


@dataclass(frozen=True)
class Route:
    function: str
    path: str
    methods: tuple[str, ...]
    auth: str  # "none" | "key"


@dataclass(frozen=True)
class Schedule:
    function: str
    expression: str  # as written in the spec: "5m" or a cron line
    rate_seconds: float | None = None
    cron: str | None = None


@dataclass(frozen=True)
class FunctionConfig:
    name: str
    handler: str
    timeout: float
    memory: int
    env: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    style: str = "portable"  # portable | aws | wsgi | asgi (multicloud.runtime.styles)
    http_payload: str = "2.0"  # style aws: the Lambda HTTP event, "2.0" or "1.0"


@dataclass(frozen=True)
class BrokerSubscription:
    """One function reading a JetStream stream through its durable pull consumer (see runtime/consumer.py)."""

    function: str
    kind: str  # queue | stream | storage
    name: str  # the spec's queue/stream name or bucket
    stream: str
    consumer: str
    batch_size: int
    max_attempts: int | None  # None: retried until it succeeds
    ordered: bool  # stream triggers: one batch in flight, failed records and those after them retried in order
    dead_letter_subject: str
    events: tuple[str, ...] = ()
    prefix: str = ""
    suffix: str = ""


@dataclass(frozen=True)
class BrokerConfig:
    """Where the service's broker is and how the runtime signs in (a reference to the password, never it)."""

    servers: tuple[str, ...]
    user: str
    password_ref: str
    inbox_prefix: str
    subscriptions: tuple[BrokerSubscription, ...]
    intake: IntakeConfig | None = None  # POST /_queues/, /_streams/ publish as this producer (runtime/intake.py)


@dataclass(frozen=True)
class Limits:
    """What one client may hold, and for how long (docs/private-runtime.md, "Limits and timeouts")."""

    concurrency: int = 32  # handlers running at once (worker threads)
    max_queue: int = 1024  # calls waiting for a slot; beyond it 429
    max_body_bytes: int = DEFAULT_MAX_BODY
    max_header_bytes: int = 64 * 1024  # request line + header fields
    keepalive_timeout: float = 75.0  # idle between requests on a kept-alive connection
    header_timeout: float = 20.0  # a request head must be complete within this (from its first byte)
    body_timeout: float = 60.0  # a request body must be complete within this (from the end of its head)
    write_timeout: float = 30.0  # a response that the client stops reading is cut after this without progress
    max_connections: int = 1024  # open connections; beyond it 503 and close
    drain_timeout: float | None = None  # default: the longest function timeout + 1 s
    drain_grace: float = 0.5  # on SIGTERM, idle kept-alive connections may still send one request


@dataclass(frozen=True)
class RuntimeConfig:
    service: str
    target: str
    paths: tuple[Path, ...]
    functions: dict[str, FunctionConfig]
    routes: tuple[Route, ...]
    schedules: tuple[Schedule, ...]
    auth_key_ref: str | None
    limits: Limits
    base_dir: Path
    broker: BrokerConfig | None = None

    @property
    def longest_timeout(self) -> float:
        return max((f.timeout for f in self.functions.values()), default=30.0)

    @property
    def drain_timeout(self) -> float:
        if self.limits.drain_timeout is not None:
            return self.limits.drain_timeout
        return self.longest_timeout + 1.0


def _req(data: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in data:
        raise ConfigError(f"{where}: missing key {key!r}")
    value = data[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ConfigError(f"{where}.{key}: expected {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def _str_map(value: object, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ConfigError(f"{where}: expected a map of strings")
    return dict(value)


def parse_config(data: object, base_dir: Path) -> RuntimeConfig:
    if not isinstance(data, dict):
        raise ConfigError("runtime.json: the top level must be an object")
    fmt = data.get("format", FORMAT)
    if fmt != FORMAT:
        raise ConfigError(f"runtime.json: format {fmt!r} is not supported (expected {FORMAT})")
    functions: dict[str, FunctionConfig] = {}
    routes: list[Route] = []
    schedules: list[Schedule] = []
    raw_functions = _req(data, "functions", dict, "runtime.json")
    for name, raw in raw_functions.items():
        where = f"functions.{name}"
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: expected an object")
        handler = _req(raw, "handler", str, where)
        if "." not in handler:
            raise ConfigError(f"{where}.handler: {handler!r} is not module.function")
        style, payload = raw.get("style", "portable"), raw.get("http_payload", "2.0")
        if style not in STYLES or payload not in ("2.0", "1.0"):
            raise ConfigError(f"{where}: style must be one of {', '.join(STYLES)} and http_payload 2.0 or 1.0, "
                              f"got {style!r} and {payload!r}")
        functions[name] = FunctionConfig(
            name=name,
            handler=handler,
            timeout=float(_req(raw, "timeout", (int, float), where)),
            memory=int(raw.get("memory", 256)),
            env=_str_map(raw.get("env", {}), f"{where}.env"),
            secrets=_str_map(raw.get("secrets", {}), f"{where}.secrets"),
            style=style,
            http_payload=payload,
        )
        for i, route in enumerate(raw.get("http", [])):
            rwhere = f"{where}.http[{i}]"
            path = _req(route, "path", str, rwhere)
            methods = tuple(m.upper() for m in route.get("methods", ["GET", "POST"]))
            bad = [m for m in methods if m not in HTTP_METHODS]
            if not path.startswith("/") or bad:
                raise ConfigError(f"{rwhere}: bad path {path!r} or methods {bad}")
            auth = route.get("auth", "none")
            if auth not in ("none", "key"):
                raise ConfigError(f"{rwhere}.auth: expected none or key, got {auth!r}")
            routes.append(Route(name, path, methods, auth))
        for i, sched in enumerate(raw.get("schedules", [])):
            swhere = f"{where}.schedules[{i}]"
            rate, cron = sched.get("rate_seconds"), sched.get("cron")
            if (rate is None) == (cron is None):
                raise ConfigError(f"{swhere}: give exactly one of rate_seconds or cron")
            if rate is not None and (not isinstance(rate, (int, float)) or rate <= 0):
                raise ConfigError(f"{swhere}.rate_seconds: must be a positive number")
            expression = str(sched.get("expression", cron if cron is not None else f"{rate}s"))
            schedules.append(Schedule(name, expression, float(rate) if rate is not None else None, cron))
    raw_limits = data.get("limits", {})
    if not isinstance(raw_limits, dict):
        raise ConfigError("limits: expected an object")
    known = set(Limits.__dataclass_fields__)
    unknown = sorted(set(raw_limits) - known)
    if unknown:
        raise ConfigError(f"limits: unknown keys {unknown}; known: {sorted(known)}")
    limits = Limits(**raw_limits)
    if limits.concurrency < 1 or limits.max_body_bytes < 0 or limits.max_queue < 0:
        raise ConfigError("limits: concurrency must be >= 1, max_body_bytes and max_queue >= 0")
    timeouts = ("keepalive_timeout", "header_timeout", "body_timeout", "write_timeout", "drain_grace")
    if any(not isinstance(getattr(limits, name), (int, float)) or getattr(limits, name) <= 0 for name in timeouts):
        raise ConfigError(f"limits: {', '.join(timeouts)} must be positive numbers of seconds")
    auth = data.get("auth") or {}
    key_ref = auth.get("key") if isinstance(auth, dict) else None
    if key_ref is not None and not re.match(r"^(env|file):.+", str(key_ref)):
        raise ConfigError("auth.key: must be a reference (env:NAME or file:/path), never the key itself")
    paths = tuple((base_dir / p).resolve() for p in data.get("paths", ["."]))
    broker = parse_broker(data["broker"], set(functions)) if data.get("broker") else None
    return RuntimeConfig(
        service=str(data.get("service", "service")),
        target=str(data.get("target", "local")),
        paths=paths,
        functions=functions,
        routes=tuple(routes),
        schedules=tuple(schedules),
        auth_key_ref=key_ref,
        limits=limits,
        base_dir=base_dir,
        broker=broker,
    )


def parse_broker(raw: object, functions: set[str]) -> BrokerConfig:
    where = "broker"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected an object")
    servers = _req(raw, "servers", list, where)
    if not servers or not all(isinstance(s, str) for s in servers):
        raise ConfigError(f"{where}.servers: expected a list of nats:// URLs")
    password_ref = _req(raw, "password", str, where)
    if not re.match(r"^(env|file):.+", password_ref):
        raise ConfigError(f"{where}.password: must be a reference (env:NAME or file:/path), never the password")
    subs = []
    for i, item in enumerate(_req(raw, "subscriptions", list, where)):
        swhere = f"{where}.subscriptions[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{swhere}: expected an object")
        function = _req(item, "function", str, swhere)
        if function not in functions:
            raise ConfigError(f"{swhere}.function: no function {function!r} in runtime.json")
        kind = _req(item, "kind", str, swhere)
        if kind not in ("queue", "stream", "storage"):
            raise ConfigError(f"{swhere}.kind: expected queue, stream or storage, got {kind!r}")
        attempts = item.get("max_attempts")
        if attempts is not None and (not isinstance(attempts, int) or attempts < 1):
            raise ConfigError(f"{swhere}.max_attempts: a positive integer or null")
        batch = _req(item, "batch_size", int, swhere)
        if batch < 1:
            raise ConfigError(f"{swhere}.batch_size: must be >= 1")
        subs.append(BrokerSubscription(
            function=function, kind=kind, name=_req(item, "name", str, swhere),
            stream=_req(item, "stream", str, swhere), consumer=_req(item, "consumer", str, swhere),
            batch_size=batch, max_attempts=attempts, ordered=bool(item.get("ordered", False)),
            dead_letter_subject=_req(item, "dead_letter_subject", str, swhere),
            events=tuple(str(e) for e in item.get("events", [])), prefix=str(item.get("prefix", "")),
            suffix=str(item.get("suffix", "")),
        ))
    try:
        intake = parse_intake(raw["intake"]) if raw.get("intake") else None
    except ValueError as exc:
        raise ConfigError(f"the HTTP intake: {exc}") from exc
    return BrokerConfig(servers=tuple(servers), user=str(raw.get("user", "runtime")), password_ref=password_ref,
                        inbox_prefix=str(raw.get("inbox_prefix", "_MC_RT")), subscriptions=tuple(subs),
                        intake=intake)


def load_config(path: Path) -> RuntimeConfig:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: not found") from exc
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    return parse_config(data, path.resolve().parent)
