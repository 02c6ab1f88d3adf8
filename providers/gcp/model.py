"""Spec -> the Cloud Functions gen2 we want, as inert data (no SDK, no project id needed).

Each spec function becomes one Cloud Function `<service>-<function>` whose entry point is a decorated
function in the generated `main.py`. A Cloud Function has exactly one way in: an HTTPS URL (the `http`
signature) or one Eventarc trigger (the `cloud_event` signature). The tables below say how each trigger
kind maps; a spec function that would need two ways in is reported as unsupported rather than silently
split. Schedules are Cloud Scheduler jobs that POST to the function's URL, so they combine with either.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from typing import Literal

from multicloud.errors import Location, SpecError, SpecErrors, UnsupportedError
from multicloud.project import Project, ResolvedFunction
from multicloud.spec.models import HttpTrigger, QueueTrigger, ScheduleTrigger, StorageTrigger

from .settings import GcpSettings

Signature = Literal["http", "cloud_event"]

FUNCTION_ID_RE = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")
RUNTIMES = {"python3.10": "python310", "python3.11": "python311", "python3.12": "python312",
            "python3.13": "python313"}
STORAGE_EVENT_TYPES = {"created": "google.cloud.storage.object.v1.finalized",
                       "deleted": "google.cloud.storage.object.v1.deleted"}
PUBSUB_EVENT_TYPE = "google.cloud.pubsub.topic.v1.messagePublished"
# the runtime's fixed schedule payload key (multicloud.runtime.events.SCHEDULE_MARKER, kept in sync by a test)
SCHEDULE_MARKER = "multicloud.schedule"
# header the Scheduler job sets, so an http function tells its schedule POST from ordinary requests
SCHEDULE_HEADER = "X-Multicloud-Schedule"
DIRECT_EVENT_TYPE = "io.multicloud.direct"
INGRESS = {"all": "ALLOW_ALL", "internal": "ALLOW_INTERNAL_ONLY", "internal_and_gclb": "ALLOW_INTERNAL_AND_GCLB"}
# Names the platform sets itself; a function may not define them.
RESERVED_ENV = frozenset({"PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION", "FUNCTION_TARGET",
                          "FUNCTION_SIGNATURE_TYPE", "GOOGLE_FUNCTION_SOURCE"})
RESERVED_ENV_PREFIXES = ("X_GOOGLE_", "GOOGLE_CLOUD_RUN_")
LABEL_PREFIX = "multicloud-"
MAX_EVENT_TIMEOUT = 540
MIN_DELIVERY_ATTEMPTS = 5  # Pub/Sub's dead-letter policy: 5 to 100
MAX_HTTP_TIMEOUT = 3600
# rate unit -> (unit seconds, cron for N units, N must divide this): only evenly spaced rates are allowed
CRON_FOR_RATE: dict[str, tuple[int, str, int]] = {
    "m": (60, "*/{n} * * * *", 60),
    "h": (3600, "0 */{n} * * *", 24),
    "d": (86400, "0 0 * * *", 1),
}
SECRET_PATH_RE = re.compile(
    r"^(?:projects/(?P<project>[^/]+)/secrets/)?(?P<secret>[A-Za-z0-9_-]{1,255})(?:/versions/(?P<version>latest|\d+))?$"
)


@dataclass(frozen=True)
class SecretBinding:
    env: str
    secret: str
    version: str = "latest"
    project: str | None = None  # None: the deploy project

    @property
    def reference(self) -> str:
        project = self.project or "{project}"
        return f"projects/{project}/secrets/{self.secret}/versions/{self.version}"


@dataclass(frozen=True)
class EventTriggerSpec:
    event_type: str
    bucket: str | None = None  # storage
    topic: str | None = None  # queue: the Pub/Sub topic id (in the deploy project) or a full path
    max_attempts: int | None = None  # queue: the trigger subscription's max delivery attempts
    prefix: str = ""
    suffix: str = ""


@dataclass(frozen=True)
class ScheduleSpec:
    job_id: str
    cron: str
    source: str  # the spec's own text, e.g. "rate 5m"


@dataclass(frozen=True)
class CloudFunction:
    function: str  # name in the spec
    function_id: str  # Cloud Functions id
    entry_point: str  # decorated name in main.py
    handler: str
    signature: Signature
    runtime: str
    memory_mb: int
    timeout_s: int
    env: dict[str, str]
    secrets: tuple[SecretBinding, ...]
    event_trigger: EventTriggerSpec | None
    schedules: tuple[ScheduleSpec, ...]
    public: bool
    route: str | None = None  # the http route when there is exactly one (path parameters)
    description: str = ""
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def object_filter(self) -> tuple[str, str] | None:
        """Prefix/suffix Eventarc cannot filter on: main.py skips other objects itself."""
        et = self.event_trigger
        if et is not None and et.bucket is not None and (et.prefix or et.suffix):
            return (et.prefix, et.suffix)
        return None


def topic_path(topic: str, project_id: str) -> str:
    return topic if topic.startswith("projects/") else f"projects/{project_id}/topics/{topic}"


def settings_of(project: Project) -> GcpSettings:
    settings = project.settings("gcp")
    assert isinstance(settings, GcpSettings)
    return settings


def cloud_functions(project: Project) -> list[CloudFunction]:
    """Every enabled spec function as the Cloud Function that serves it.

    Spec problems are collected and raised together (exit 2); a mapping gcp cannot do at all raises
    `UnsupportedError` (exit 3) at once."""
    settings = settings_of(project)
    errors: list[SpecError] = []
    for key in settings.labels:
        if key == "managed-by" or key.startswith(LABEL_PREFIX):
            errors.append(SpecError(f"label {key!r} is reserved: multicloud uses it to recognise what it owns",
                                    fix="rename the label", where=project.locate(("targets", "gcp", "labels", key))))
    out: list[CloudFunction] = []
    ids: dict[str, str] = {}
    entries: dict[str, str] = {}
    for fn in project.functions_for("gcp"):
        try:
            cf = _cloud_function(project, settings, fn)
        except SpecError as exc:
            errors.append(exc)
            continue
        for seen, key, what in ((ids, cf.function_id, "Cloud Function id"), (entries, cf.entry_point, "entry point")):
            if key in seen:
                errors.append(SpecError(
                    f"functions {seen[key]!r} and {fn.name!r} map to the same {what} {key!r} on gcp",
                    fix="rename one of them (on gcp '_' becomes '-' in ids and '-' becomes '_' in entry points)",
                    where=project.locate(("functions", fn.name)),
                ))
            seen[key] = fn.name
        out.append(cf)
    if errors:
        raise SpecErrors(errors)
    return out


def function_id(service: str, name: str) -> str:
    return f"{service}-{name}".replace("_", "-")


def entry_point(name: str) -> str:
    ident = name.replace("-", "_")
    return ident + "_" if keyword.iskeyword(ident) or keyword.issoftkeyword(ident) else ident


def _cloud_function(project: Project, settings: GcpSettings, fn: ResolvedFunction) -> CloudFunction:
    where = project.locate(("functions", fn.name))
    fid = function_id(project.name, fn.name)
    if not FUNCTION_ID_RE.match(fid):
        raise SpecError(
            f"Cloud Function id {fid!r} is invalid (63 characters at most, ending in a letter or digit)",
            fix="shorten the service or function name, and do not end it with '-' or '_'",
            where=where,
        )
    http = [t.http for t in fn.triggers if t.http is not None]
    events: list[tuple[int, EventTriggerSpec]] = []
    schedules: list[ScheduleSpec] = []
    for index, trig in enumerate(fn.triggers):
        cfg = trig.config
        if isinstance(cfg, StorageTrigger):
            events += [(index, EventTriggerSpec(STORAGE_EVENT_TYPES[e], bucket=cfg.bucket, prefix=cfg.prefix,
                                                suffix=cfg.suffix)) for e in cfg.events]
        elif isinstance(cfg, QueueTrigger):
            if cfg.max_attempts < MIN_DELIVERY_ATTEMPTS:
                raise SpecError(
                    f"max_attempts {cfg.max_attempts} is below Pub/Sub's {MIN_DELIVERY_ATTEMPTS}: a dead-letter "
                    f"policy allows {MIN_DELIVERY_ATTEMPTS} to 100 delivery attempts",
                    fix=f"set max_attempts to {MIN_DELIVERY_ATTEMPTS} or more, or disable the function on gcp",
                    where=project.locate(("functions", fn.name, "triggers", index, "queue", "max_attempts")))
            events.append((index, EventTriggerSpec(PUBSUB_EVENT_TYPE, topic=cfg.name, max_attempts=cfg.max_attempts)))
        elif isinstance(cfg, ScheduleTrigger):
            loc = project.locate(("functions", fn.name, "triggers", index, "schedule"))
            schedules.append(ScheduleSpec(f"{fid}-{len(schedules)}", cron_of(cfg, loc),
                                          f"rate {cfg.rate}" if cfg.rate else f"cron {cfg.cron}"))
        elif not isinstance(cfg, HttpTrigger):
            raise UnsupportedError(
                f"function {fn.name!r}: {trig.kind} triggers are not available on Cloud Functions",
                fix="use a queue (Pub/Sub) trigger on gcp, or disable the function there with "
                    "`targets: {gcp: {enabled: false}}`",
                where=project.locate(("functions", fn.name, "triggers", index)),
            )
    if len(events) > 1 or (events and http):
        kinds = [f"{e.event_type}" for _, e in events] + ["http"] * bool(http)
        raise UnsupportedError(
            f"function {fn.name!r} needs {len(kinds)} ways in on gcp ({', '.join(kinds)}); "
            "a Cloud Function has one (an HTTPS URL or one event trigger)",
            fix="split it into one spec function per trigger (they may share a handler)",
            where=project.locate(("functions", fn.name, "triggers")),
        )
    event = events[0][1] if events else None
    signature: Signature = "http" if http else "cloud_event"
    timeout_cap = MAX_HTTP_TIMEOUT if signature == "http" else MAX_EVENT_TIMEOUT
    if fn.timeout > timeout_cap:
        raise SpecError(
            f"timeout {fn.timeout}s is over the gen2 limit of {timeout_cap}s for {signature} functions",
            fix=f"lower it to {timeout_cap} or less (per target: `targets: {{gcp: {{timeout: {timeout_cap}}}}}`)",
            where=project.locate(("functions", fn.name, "timeout")),
        )
    for env in (*fn.env, *fn.secrets):
        if env in RESERVED_ENV or env.startswith(RESERVED_ENV_PREFIXES):
            raise SpecError(
                f"environment variable {env!r} is reserved by Cloud Functions", fix="rename it",
                where=project.locate(("functions", fn.name, "env")),
            )
    secrets = tuple(_secret(env, ref, project.locate(("functions", fn.name, "secrets", env)))
                    for env, ref in sorted(fn.secrets.items()))
    public = bool(http) and settings.allow_unauthenticated and all(h.auth == "none" for h in http)
    labels = {**settings.labels, "managed-by": "multicloud", "multicloud-service": project.name,
              "multicloud-function": fn.name.replace("_", "-")}
    return CloudFunction(
        function=fn.name, function_id=fid, entry_point=entry_point(fn.name), handler=fn.handler,
        signature=signature, runtime=RUNTIMES[project.spec.runtime], memory_mb=fn.memory, timeout_s=fn.timeout,
        env=dict(sorted(fn.env.items())), secrets=secrets, event_trigger=event, schedules=tuple(schedules),
        public=public, route=http[0].path if len(http) == 1 and "{" in http[0].path else None,
        description=fn.description, labels=dict(sorted(labels.items())),
    )


def cron_of(trigger: ScheduleTrigger, where: Location | None = None) -> str:
    """A Cloud Scheduler (unix cron, 5 fields) schedule for a spec schedule."""
    if trigger.cron is not None:
        return trigger.cron
    seconds = trigger.rate_seconds or 0
    for unit in ("d", "h", "m"):  # the largest unit that divides the rate
        unit_s, template, divides = CRON_FOR_RATE[unit]
        if seconds % unit_s == 0:
            if divides % (seconds // unit_s) == 0:
                return template.format(n=seconds // unit_s)
            break
    raise SpecError(
        f"rate {trigger.rate!r} cannot be expressed as an evenly spaced Cloud Scheduler cron",
        fix="use a rate that divides an hour (e.g. 5m, 15m) or a day (e.g. 2h, 6h), 1d, or give `cron:`",
        where=where,
    )


def _secret(env: str, ref: str, where: Location) -> SecretBinding:
    scheme, _, locator = ref.partition(":")
    match = SECRET_PATH_RE.match(locator) if scheme == "gcp-secret" else None
    if match is None:
        raise SpecError(
            f"secret {env}: {scheme}: references do not resolve on gcp" if scheme != "gcp-secret"
            else f"secret {env}: not a Secret Manager secret path",
            fix="use gcp-secret:NAME, gcp-secret:NAME/versions/N or "
                "gcp-secret:projects/PROJECT/secrets/NAME/versions/latest (a per-target map gives one per cloud)",
            where=where,
        )
    return SecretBinding(env=env, secret=match["secret"], version=match["version"] or "latest",
                         project=match["project"])
