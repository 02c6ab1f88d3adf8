"""Spec triggers -> Azure Functions (Python v2 model) functions, as inert data.

An Azure function has exactly one trigger, so each (spec function, trigger) pair becomes one Azure
function. Everything the blueprint needs is decided here, in tables and small pure functions, so the
mapping is tested without rendering and a spec the platform cannot honour fails before anything is built.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from multicloud.errors import Location, SpecError, UnsupportedError
from multicloud.project import Project, ResolvedFunction
from multicloud.spec.models import (
    HttpTrigger,
    QueueTrigger,
    ScheduleTrigger,
    StorageTrigger,
    StreamTrigger,
    Trigger,
)

STORAGE_CONNECTION = "AzureWebJobsStorage"

# spec trigger kind -> (AzureShim method, Python parameter name, parameter annotation)
SHIM_METHODS: dict[str, tuple[str, str, str]] = {
    "http": ("http", "req", "func.HttpRequest"),
    "schedule": ("timer", "timer", "func.TimerRequest"),
    "queue": ("queue", "msg", "func.QueueMessage"),
    # typing.List, not list[...]: azure.functions' converter (typing_inspect) only accepts the former
    "stream": ("eventhub", "events", "typing.List[func.EventHubEvent]"),
    "storage": ("blob", "blob", "func.InputStream"),
}
# spec auth -> azure.functions.AuthLevel member
AUTH_LEVELS = {"none": "ANONYMOUS", "key": "FUNCTION"}
# starting_position -> host.json eventHubs.initialOffsetOptions.type (used when no checkpoint exists)
INITIAL_OFFSET = {"latest": "fromEnd", "trim_horizon": "fromStart"}
# host.json limits: https://learn.microsoft.com/azure/azure-functions/functions-bindings-storage-queue#host-json
QUEUE_MAX_BATCH = 32
STORAGE_NAME_RE = re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$")
NCRONTAB_FIELD = re.compile(r"^[0-9A-Za-z*/,\-]+$")


@dataclass(frozen=True)
class AzureFunction:
    """One Azure function: the decorator call and the shim method the rendered code uses."""

    name: str  # Azure function name (unique in the app)
    py_name: str  # Python identifier of the decorated def
    spec_function: str
    shim_var: str  # module-level AzureShim of the spec function
    kind: str  # spec trigger kind
    trigger_index: int  # position in the spec function's `triggers`
    decorator: str  # the `@app....(...)` line after the `@app.` prefix
    shim_method: str
    param: str
    annotation: str


Locate = Callable[[tuple[str | int, ...]], Location]


def ncrontab(schedule: ScheduleTrigger, where: Location | str) -> str:
    """A spec schedule as the six-field NCRONTAB expression of the Azure timer trigger (UTC)."""
    if schedule.cron is not None:
        fields = schedule.cron.split()
        bad = [f for f in fields if not NCRONTAB_FIELD.match(f)]
        if bad:
            raise UnsupportedError(
                f"cron field {bad[0]!r} uses a character (? L W #) that Azure's NCRONTAB does not support",
                fix="write the cron with digits, names, * / , and - only",
                where=where,
            )
        return "0 " + " ".join(fields)
    seconds = schedule.rate_seconds
    assert seconds is not None
    minutes, hours = seconds // 60, seconds // 3600
    if seconds < 3600 and 60 % minutes == 0:
        return f"0 */{minutes} * * * *" if minutes > 1 else "0 * * * * *"
    if seconds % 3600 == 0 and hours < 24 and 24 % hours == 0:
        return f"0 0 */{hours} * * *" if hours > 1 else "0 0 * * * *"
    if seconds == 86400:
        return "0 0 0 * * *"
    raise UnsupportedError(
        f"rate {schedule.rate!r} has no exact NCRONTAB equivalent (a cron step restarts every hour, day "
        "or month, so the interval would drift)",
        fix="use a rate that divides an hour (1m-30m, 60m) or a day (1h-12h, 24h, 1d), or a `cron:`",
        where=where,
    )


def route_of(path: str) -> str:
    """A spec path as an ASP.NET route template (routePrefix is empty, see host.json)."""
    if path == "/":
        # an empty route never matches the site root; an empty optional parameter does
        return "{_root:maxlength(0)?}"
    route = path.strip("/")
    return re.sub(r"\{([A-Za-z_][A-Za-z0-9_]*)\+\}", r"{*\1}", route)


def blob_path(trigger: StorageTrigger) -> str:
    return f"{trigger.bucket}/{trigger.prefix}{{name}}{trigger.suffix}"


def _check_storage_name(value: str, what: str, where: Location) -> None:
    if not STORAGE_NAME_RE.match(value):
        raise SpecError(
            f"{what} {value!r} is not a valid Azure Storage name",
            fix="use 3-63 lower-case letters, digits and single dashes, starting and ending with a "
                "letter or digit",
            where=where,
        )


def _py_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def azure_functions(project: Project, functions: list[ResolvedFunction], *, plan: str,
                    eventhub_connection: str, locate: Locate) -> list[AzureFunction]:
    """Every Azure function of the app; raises located errors for what Azure cannot do."""
    out: list[AzureFunction] = []
    seen: set[str] = set()
    for fn in functions:
        counts: dict[str, int] = {}
        for index, trigger in enumerate(fn.triggers):
            kind = trigger.kind
            counts[kind] = counts.get(kind, 0) + 1
            suffix = "" if counts[kind] == 1 else f"-{counts[kind]}"
            name = f"{fn.name}-{kind}{suffix}" if len(fn.triggers) > 1 else fn.name
            where = locate(("functions", fn.name, "triggers", index, kind))
            decorator = _decorator(trigger, plan=plan, eventhub_connection=eventhub_connection, where=where)
            method, param, annotation = SHIM_METHODS[kind]
            if name in seen:
                raise SpecError(f"two triggers map to the same Azure function name {name!r}",
                                fix="rename one of the functions", where=where)
            seen.add(name)
            out.append(AzureFunction(name=name, py_name=_py_name(name), spec_function=fn.name,
                                     shim_var=f"_{_py_name(fn.name)}_shim", kind=kind, trigger_index=index,
                                     decorator=decorator, shim_method=method, param=param,
                                     annotation=annotation))
    return out


def _decorator(trigger: Trigger, *, plan: str, eventhub_connection: str, where: Location) -> str:
    config = trigger.config
    method, param, _ = SHIM_METHODS[trigger.kind]
    if isinstance(config, HttpTrigger):
        return (f"route(route={route_of(config.path)!r}, methods={list(config.methods)!r}, "
                f"auth_level=func.AuthLevel.{AUTH_LEVELS[config.auth]})")
    if isinstance(config, ScheduleTrigger):
        return f"timer_trigger(arg_name={param!r}, schedule={ncrontab(config, where)!r}, run_on_startup=False)"
    if isinstance(config, QueueTrigger):
        _check_storage_name(config.name, "queue name", where)
        if len(config.name) > 63 - len("-poison"):
            raise SpecError(f"queue name {config.name!r} leaves no room for its poison queue "
                            f"{config.name}-poison (63 characters at most)",
                            fix=f"use a queue name of at most {63 - len('-poison')} characters", where=where)
        return f"queue_trigger(arg_name={param!r}, queue_name={config.name!r}, connection={STORAGE_CONNECTION!r})"
    if isinstance(config, StreamTrigger):
        return (f"event_hub_message_trigger(arg_name={param!r}, event_hub_name={config.name!r}, "
                f"connection={eventhub_connection!r}, consumer_group={config.consumer_group!r}, "
                "cardinality=func.Cardinality.MANY)")
    assert isinstance(config, StorageTrigger)
    if "deleted" in config.events:
        raise UnsupportedError(
            "Azure blob triggers fire when a blob is created or updated, never when it is deleted",
            fix="drop `deleted` from `events` for the azure target (e.g. disable this function there with "
                "`targets: {azure: {enabled: false}}`), or subscribe to Event Grid's BlobDeleted yourself",
            where=where,
        )
    _check_storage_name(config.bucket, "container (bucket)", where)
    # Flex Consumption only runs the Event Grid-based blob trigger; Consumption may poll the container.
    source = "EVENT_GRID" if plan == "flex" else "LOGS_AND_CONTAINER_SCAN"
    return (f"blob_trigger(arg_name={param!r}, path={blob_path(config)!r}, "
            f"connection={STORAGE_CONNECTION!r}, source=func.BlobSource.{source})")


def host_extensions(functions: list[ResolvedFunction], where: Locate) -> dict[str, object]:
    """host.json `extensions`: batch sizes and the Event Hubs start position are app-wide on Azure."""
    ext: dict[str, object] = {"http": {"routePrefix": ""}}
    queues = [(f.name, i, t.config) for f in functions for i, t in enumerate(f.triggers)
              if isinstance(t.config, QueueTrigger)]
    if queues:
        attempts = {q.max_attempts for _, _, q in queues}
        if len(attempts) > 1:
            name, index, _ = queues[-1]
            raise UnsupportedError(
                "storage-queue functions of one Azure app share one maxDequeueCount (host.json), but this spec "
                f"asks for max_attempts {' and '.join(map(str, sorted(attempts)))}",
                fix="give every queue trigger of the service the same `max_attempts` (or deploy the functions "
                    "that differ as another service)",
                where=where(("functions", name, "triggers", index, "queue", "max_attempts")),
            )
        # the host moves a message to `<queue>-poison` when its function fails on the maxDequeueCount-th dequeue
        ext["queues"] = {"batchSize": min(QUEUE_MAX_BATCH, max(q.batch_size for _, _, q in queues)),
                         "maxDequeueCount": attempts.pop()}
    streams = [(f.name, i, t.config) for f in functions for i, t in enumerate(f.triggers)
               if isinstance(t.config, StreamTrigger)]
    if streams:
        positions = {s.starting_position for _, _, s in streams}
        if len(positions) > 1:
            name, index, _ = streams[-1]
            raise UnsupportedError(
                "Event Hubs functions of one Azure app share one starting position (host.json), but this "
                f"spec asks for {' and '.join(sorted(positions))}",
                fix="give every stream trigger the same `starting_position`",
                where=where(("functions", name, "triggers", index, "stream", "starting_position")),
            )
        ext["eventHubs"] = {
            "maxEventBatchSize": max(s.batch_size for _, _, s in streams),
            "initialOffsetOptions": {"type": INITIAL_OFFSET[positions.pop()]},
        }
    return ext
