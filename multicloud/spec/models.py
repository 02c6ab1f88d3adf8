"""The `multicloud.yaml` model: pydantic v2 classes, strict about unknown keys.

The loader (`loader.py`) turns YAML into these models and maps every validation error back to the YAML
node it came from. Cross-field rules that need the spec's folder (handler files, duplicate routes) live
in `checks.py`; rules that depend on a target live in `multicloud.capabilities`.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, field_validator, model_validator

from multicloud.spec import kinds
from multicloud.spec.secrets import SecretRef
from multicloud.spec.targets import TargetsSettings
from multicloud.spec.types import Int, MemoryMb, TimeoutS

NAME_RE = r"^[a-z][a-z0-9-]{0,39}$"
FUNCTION_RE = r"^[a-z][a-z0-9_-]{0,39}$"
# module segments may hold dashes (`on-object-created.handler`): Lambda and importlib load such files
HANDLER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*\.[A-Za-z_][A-Za-z0-9_]*$")
ENV_NAME_RE = r"^[A-Za-z_][A-Za-z0-9_]*$"
RUNTIMES = ("python3.10", "python3.11", "python3.12", "python3.13")
TARGET_NAMES = ("aws", "azure", "gcp", "docker", "local")

Runtime = Literal["python3.10", "python3.11", "python3.12", "python3.13"]
TargetName = Literal["aws", "azure", "gcp", "docker", "local"]
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
# upper-cased on load, so editors accept either case
HttpMethod = Annotated[
    Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
    WithJsonSchema({"type": "string", "enum": [*METHODS, *(m.lower() for m in METHODS)]}),
]
EnvName = Annotated[str, Field(pattern=ENV_NAME_RE)]
STYLES = ("portable", "aws", "wsgi", "asgi")
Style = Literal["portable", "aws", "wsgi", "asgi"]
APP_STYLES = ("wsgi", "asgi")  # an app serves HTTP only
HTTP_PAYLOADS = ("2.0", "1.0")
# "2.0" or "1.0" (AWS's payload format version); YAML readers often write it as a number
HttpPayload = Annotated[
    Literal["2.0", "1.0"],
    WithJsonSchema({"enum": ["2.0", "1.0", 2.0, 1.0],
                    "description": "Lambda HTTP event of a `style: aws` function: 2.0 = HTTP API / Function URL "
                                   "(default), 1.0 = REST API proxy."}),
]


def _plain_setting(value: str) -> str:
    from multicloud.spec.credentials import credential_kind

    kind = credential_kind(value)
    if kind:  # never echo the value
        raise ValueError(f"this value looks like {kind}; `env:` values land in artifacts, cloud consoles and "
                         "state Fix: store it in a secret store and reference it under `secrets:` instead "
                         "(e.g. secrets: {NAME: ssm:/app/name}, or {local: env:NAME} for a local run)")
    return value


EnvValue = Annotated[str, AfterValidator(_plain_setting)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class HttpTrigger(Strict):
    path: str = Field("/", description="Route, e.g. /orders/{id}. Path parameters in braces.")
    methods: tuple[HttpMethod, ...] = Field(("GET", "POST"), min_length=1)
    auth: Literal["none", "key"] = Field("none", description="`key`: callers must send the function key.")

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/', e.g. /orders")
        if not re.fullmatch(r"(/[A-Za-z0-9._~\-]*|/\{[A-Za-z_][A-Za-z0-9_]*\+?\})+/?|/", value):
            raise ValueError("segments may hold letters, digits, . _ ~ - or one {param} Fix: remove spaces and other "
                             "characters, e.g. /orders/{id}")
        params = re.findall(r"\{([A-Za-z_][A-Za-z0-9_]*)(\+?)\}", value)
        names = [name for name, _ in params]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"path parameter {{{repeated[0]}}} appears twice Fix: give each parameter its own name, "
                             "e.g. /users/{user}/orders/{order}")
        if any(greedy for _, greedy in params[:-1]) or (params and params[-1][1] and not value.rstrip("/")
                                                         .endswith("+}")):
            raise ValueError("a greedy parameter {name+} must be the last segment Fix: move it to the end, "
                             "e.g. /files/{path+}")
        return value

    @field_validator("methods", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        if isinstance(value, (list, tuple)):
            return tuple(v.upper() if isinstance(v, str) else v for v in value)
        return value


RATE_RE = re.compile(r"^(\d+)\s*(m|min|minute|minutes|h|hour|hours|d|day|days)$")
MAX_RATE_SECONDS = 366 * 86400  # a year: every target's scheduler takes it, none takes much more


class ScheduleTrigger(Strict):
    rate: str | None = Field(None, description="Every N minutes/hours/days: '5m', '1h', '1d'.")
    cron: str | None = Field(None, description="Five-field cron, UTC: 'min hour day month weekday'.")

    @model_validator(mode="after")
    def _one(self) -> ScheduleTrigger:
        if (self.rate is None) == (self.cron is None):
            raise ValueError("give exactly one of `rate` (e.g. 5m) or `cron` (e.g. '0 * * * *')")
        if self.rate is not None:
            if not RATE_RE.match(self.rate.strip()):
                raise ValueError(f"rate {self.rate!r} is not N followed by m, h or d (e.g. 5m, 1h, 1d)")
            seconds = self.rate_seconds or 0
            if not 60 <= seconds <= MAX_RATE_SECONDS:
                raise ValueError(f"rate {self.rate!r} is outside 1m-366d Fix: use at least 1m and at most 366d")
        if self.cron is not None:
            check_cron(self.cron)
        return self

    @property
    def rate_seconds(self) -> int | None:
        if self.rate is None:
            return None
        match = RATE_RE.match(self.rate.strip())
        assert match is not None
        amount, unit = int(match.group(1)), match.group(2)[0]
        return amount * {"m": 60, "h": 3600, "d": 86400}[unit]


def check_cron(expr: str) -> None:
    """The portable cron: five fields, as the private runtime's scheduler parses them (the same code), and
    an expression that fires at all. Quartz/EventBridge extensions (L, W, #) are not portable."""
    from datetime import datetime, timezone

    from multicloud.runtime.scheduler import Cron, CronError

    try:
        Cron(expr).next_after(datetime(2026, 1, 1, tzinfo=timezone.utc))
    except CronError as exc:
        raise ValueError(f"{exc} Fix: write five fields, minute hour day month weekday, with digits, names (JAN, "
                         "MON), * / , - (e.g. '0 6 * * MON-FRI'); times are UTC") from None


class QueueTrigger(Strict):
    name: str = Field(..., min_length=1, description="Queue name (SQS, Storage Queue, Pub/Sub topic).")
    batch_size: Int = Field(10, ge=1, le=10000)
    max_attempts: Int = Field(5, ge=1, le=100, description="Deliveries before a message goes to the dead "
                              "letters (`multicloud dead-letters`).")


class StreamTrigger(Strict):
    name: str = Field(..., min_length=1, description="Stream name (Kinesis stream, Event Hub).")
    batch_size: Int = Field(100, ge=1, le=10000)
    starting_position: Literal["latest", "trim_horizon"] = "latest"
    consumer_group: str = Field("$Default", description="Event Hubs consumer group (Azure).")


class StorageTrigger(Strict):
    bucket: str = Field(..., min_length=3, max_length=63)
    events: tuple[Literal["created", "deleted"], ...] = Field(("created",), min_length=1)
    prefix: str = ""
    suffix: str = ""


TriggerKind = Literal["http", "schedule", "queue", "stream", "storage"]
TRIGGER_KINDS: tuple[TriggerKind, ...] = kinds.NAMES  # type: ignore[assignment]  # the table, spec/kinds.py


class Trigger(Strict):
    """One list item holding exactly one trigger kind: `- http: {...}`."""

    http: HttpTrigger | None = None
    schedule: ScheduleTrigger | None = None
    queue: QueueTrigger | None = None
    stream: StreamTrigger | None = None
    storage: StorageTrigger | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Trigger:
        kinds = [k for k in TRIGGER_KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(
                "each trigger item holds exactly one of http, schedule, queue, stream, storage; "
                f"this one holds {', '.join(kinds) or 'none'}"
            )
        return self

    @property
    def kind(self) -> TriggerKind:
        return next(k for k in TRIGGER_KINDS if getattr(self, k) is not None)

    @property
    def config(self) -> HttpTrigger | ScheduleTrigger | QueueTrigger | StreamTrigger | StorageTrigger:
        value = getattr(self, self.kind)
        assert value is not None
        return value  # type: ignore[no-any-return]


DataClass = Literal["public", "internal", "confidential"]
PRIVATE_TARGETS: tuple[str, ...] = ("docker", "local")
PUBLIC_TARGETS: tuple[str, ...] = ("aws", "azure", "gcp")


class Placement(Strict):
    """Where a service (or one function) may run, by how sensitive its data is.

    `confidential`: only the private targets (docker, local). `internal`: any target, but HTTP triggers on
    public clouds must require a key. `public`: anywhere. `allowed_targets` narrows further.
    """

    data_class: DataClass = "public"
    allowed_targets: tuple[TargetName, ...] | None = Field(
        None, min_length=1, description="The only targets it may run on, in order of preference: clients "
        "(and the endpoints manifest) try them in this order.")

    def allows(self, target: str) -> bool:
        if self.data_class == "confidential" and target not in PRIVATE_TARGETS:
            return False
        return self.allowed_targets is None or target in self.allowed_targets

    @model_validator(mode="after")
    def _consistent(self) -> Placement:
        if self.data_class == "confidential" and self.allowed_targets:
            public = [t for t in self.allowed_targets if t in PUBLIC_TARGETS]
            if public:
                raise ValueError(f"confidential data may not go to public cloud {public[0]!r}; "
                                 "allow only docker and local, or lower data_class")
        return self


class FunctionOverride(Strict):
    """Per-function, per-target settings that win over the function's own."""

    enabled: bool = True
    memory: MemoryMb | None = None
    timeout: TimeoutS | None = None
    env: dict[EnvName, EnvValue] = Field(default_factory=dict)
    secrets: dict[EnvName, SecretRef] = Field(default_factory=dict)


class Function(Strict):
    handler: str = Field(..., description="module.function (or module.app for wsgi/asgi), relative to the spec's "
                                          "folder.")
    style: Style = Field("portable", description="What the handler is: portable `handler(event, context)`, aws "
                                                 "(a Lambda handler, on every target), wsgi or asgi (an app).")
    http_payload: HttpPayload | None = Field(
        None, description="style aws only: the Lambda HTTP event the handler expects, 2.0 (HTTP API / Function "
                          "URL, the default) or 1.0 (REST API proxy).")
    description: str = ""
    memory: Int = Field(256, ge=64, le=32768, description="Memory in MB.")
    timeout: Int = Field(30, ge=1, le=86400, description="Timeout in seconds.")
    env: dict[EnvName, EnvValue] = Field(default_factory=dict)
    secrets: dict[EnvName, SecretRef] = Field(
        default_factory=dict, description="Secret references only, e.g. ssm:/app/key; never values."
    )
    triggers: tuple[Trigger, ...] = Field(default_factory=tuple)
    targets: dict[TargetName, FunctionOverride] = Field(default_factory=dict)
    placement: Placement | None = Field(None, description="Where this function may run (default: the service's).")

    @field_validator("handler")
    @classmethod
    def _handler(cls, value: str) -> str:
        if not HANDLER_RE.match(value):
            raise ValueError(f"{value!r} is not module.function Fix: name a Python module under the spec's folder "
                             "and a function in it, ASCII letters, digits and _ (e.g. handler.main or app.api.handle)")
        return value

    @field_validator("http_payload", mode="before")
    @classmethod
    def _payload(cls, value: object) -> object:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and float(value) in (1.0, 2.0):
            return f"{float(value):.1f}"
        return value

    @property
    def payload(self) -> str:
        """The HTTP payload format a `style: aws` handler gets (2.0 unless the spec says 1.0)."""
        return self.http_payload or "2.0"


def _glob(pattern: str) -> str:
    from multicloud.files import pattern_problem

    problem = pattern_problem(pattern)
    if problem:
        raise ValueError(f"{problem} Fix: write globs relative to the spec's folder, e.g. tests/fixtures/** or "
                         ".well-known/*")
    return pattern


Glob = Annotated[str, AfterValidator(_glob)]


def _inside(path: str) -> str:
    from multicloud.files import pattern_problem

    problem = pattern_problem(path)
    if problem:
        raise ValueError(f"{problem} Fix: keep the file in the spec's folder and name it relative to it (a "
                         "requirements file may still `-r` include one elsewhere)")
    return path


RelativePath = Annotated[str, AfterValidator(_inside)]


class Spec(Strict):
    service: str = Field(..., pattern=NAME_RE, description="Lower-case name, letters, digits, dashes.")
    runtime: Runtime = "python3.11"
    description: str = ""
    requirements: RelativePath | None = Field(
        None, description="Path of the requirements file, relative to this file's folder; default: "
        "requirements.txt there, when it exists.")
    include: tuple[Glob, ...] = Field(default_factory=tuple, description="Globs (relative to this file's folder) "
                                     "of files to ship that the default leaves out, e.g. tests/fixtures/**.")
    exclude: tuple[Glob, ...] = Field(default_factory=tuple, description="Globs of files not to ship, e.g. "
                                     "docs/**; wins over include.")
    functions: dict[Annotated[str, Field(pattern=FUNCTION_RE)], Function] = Field(..., min_length=1)
    targets: TargetsSettings = Field(default_factory=TargetsSettings)
    placement: Placement = Field(default_factory=Placement, description="Privacy placement of the service.")

    def placement_of(self, function: str) -> Placement:
        own = self.functions[function].placement
        return own if own is not None else self.placement

    @property
    def python_version(self) -> str:
        return self.runtime.removeprefix("python")
