"""Serverless `events:` -> multicloud `triggers:`, one table entry per event kind.

http (API Gateway REST, Lambda payload 1.0) and httpApi (HTTP API, payload 2.0) keep their paths, path
parameters and catch-alls: `{proxy+}` stays a greedy parameter, `ANY`/`*` become all seven methods, and
`httpApi: '*'` becomes `/` plus `/{proxy+}`. schedule keeps rate and cron (AWS's six-field cron becomes five
fields, its day-of-week 1-7 becomes 0-6). sqs and stream name their queue or stream through `cfn.Resources`
(a literal ARN, `Fn::GetAtt`, `Ref`, `Fn::Join`, `Fn::Sub`); s3 keeps bucket, event type and prefix/suffix
rules. Every option that has no equivalent, and every other event kind, becomes a note from `advice`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from multicloud.runtime.scheduler import Cron, CronError

from . import advice
from .cfn import UNKNOWN, Resources, is_intrinsic
from .report import Notes, Path_

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
PATH_OK = re.compile(r"(/[A-Za-z0-9._~\-]*|/\{[A-Za-z_][A-Za-z0-9_]*\+?\})+/?|/")
RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$", re.I)
CRON = re.compile(r"^cron\((.+)\)$", re.I)
DOW_NUMBER = re.compile(r"\d+")


@dataclass
class Context:
    notes: Notes
    resources: Resources
    http_api_payload: str = "2.0"  # provider.httpApi.payload


@dataclass
class Converted:
    triggers: list[dict[str, Any]] = field(default_factory=list)
    payload: str | None = None  # Lambda HTTP payload the handler was written for: "1.0" (REST) or "2.0"


def convert_event(event: Any, path: Path_, ctx: Context) -> Converted:
    if isinstance(event, str):
        kind, body = event, None
    elif isinstance(event, dict) and len(event) == 1:
        kind, body = next(iter(event.items()))
    else:
        keys = ", ".join(map(str, event)) if isinstance(event, dict) else type(event).__name__
        ctx.notes.add(path, f"not an event (expected one event kind such as http: or sqs:, found {keys})",
                      "check the indentation of this event")
        return Converted()
    convert = CONVERTERS.get(kind)
    if convert is None:
        what, todo = advice.EVENTS.get(kind, advice.EVENT_DEFAULT)[1:]
        ctx.notes.add((*path, kind), f"'{kind}' event not converted: {what}", todo)
        return Converted()
    return convert(body, (*path, kind), ctx)


# ---- http -------------------------------------------------------------------------------------------------
def _methods(method: Any, path: Path_, ctx: Context) -> list[str] | None:
    text = str(method).strip().upper() if isinstance(method, str) else ""
    if text in ("*", "ANY"):
        return list(ALL_METHODS)
    if text in ALL_METHODS:
        return [text]
    ctx.notes.add(path, f"method {method!r} not converted", f"use one of {', '.join(ALL_METHODS)} or ANY")
    return None


def routes(method: Any, route: Any, path: Path_, ctx: Context, *, keyed: bool = False) -> list[dict[str, Any]]:
    """One Serverless route -> http triggers (a catch-all `*` is `/` plus `/{proxy+}`)."""
    methods = _methods(method, path, ctx)
    if methods is None:
        return []
    if not isinstance(route, str):
        ctx.notes.add(path, f"path {route!r} not converted (not a string)", "give the route as text")
        return []
    text = route.strip()
    paths = ["/", "/{proxy+}"] if text in ("*", "/*") else ["/" + re.sub(r"/{2,}", "/", text).strip("/")]
    out = []
    for one in paths:
        if not PATH_OK.fullmatch(one):
            ctx.notes.add(path, f"path {route!r} not converted: multicloud routes hold letters, digits, . _ ~ - "
                                "and {param} segments with Python-style names", "rename the path or its parameters")
            return []
        trigger: dict[str, Any] = {"path": one, "methods": methods}
        if keyed:
            trigger["auth"] = "key"
        out.append({"http": trigger})
    return out


def _options(body: dict[str, Any], known: set[str], path: Path_, ctx: Context,
             table: dict[str, advice.Advice]) -> None:
    for key in body:
        if key in known:
            continue
        kind, what, todo = table.get(key, ("review", "not converted", "check what it did and recreate it per "
                                                                    "target"))
        ctx.notes.add((*path, key), what, todo, kind)


def _http(body: Any, path: Path_, ctx: Context) -> Converted:
    """API Gateway REST API (payload 1.0)."""
    if isinstance(body, str):
        method, _, route = body.strip().partition(" ")
        return Converted(routes(method, route.strip() or "/", path, ctx), "1.0")
    if not isinstance(body, dict):
        ctx.notes.add(path, "not converted: expected `METHOD path` or a mapping with method and path")
        return Converted()
    integration = str(body.get("integration", "lambda-proxy")).lower().replace("_", "-")
    if integration in ("mock", "http", "http-proxy", "aws"):
        ctx.notes.add((*path, "integration"), f"a `{integration}` integration does not call the function: "
                                              "not converted", "recreate it in a gateway in front")
        return Converted()
    if integration == "lambda":
        ctx.notes.add((*path, "integration"), "the handler was written for API Gateway's non-proxy `lambda` "
                      "integration (a mapping-template event, the raw return value as body); multicloud delivers "
                      "the proxy event", "read event['body'] and event['pathParameters'] and return "
                      "{'statusCode': ..., 'body': ...}")
    keyed = body.get("private") is True or bool(body.get("authorizer"))
    _options(body, {"method", "path", "integration"}, path, ctx, advice.HTTP_OPTIONS)
    return Converted(routes(body.get("method", "GET"), body.get("path", "/"), path, ctx, keyed=keyed), "1.0")


def _http_api(body: Any, path: Path_, ctx: Context) -> Converted:
    """API Gateway HTTP API (payload 2.0 unless provider.httpApi.payload says 1.0)."""
    if isinstance(body, str):
        text = body.strip()
        method, _, route = ("*", "", "*") if text == "*" else text.partition(" ")
        return Converted(routes(method, route.strip(), path, ctx), ctx.http_api_payload)
    if not isinstance(body, dict):
        ctx.notes.add(path, "not converted: expected `METHOD path`, '*' or a mapping with method and path")
        return Converted()
    _options(body, {"method", "path"}, path, ctx, advice.HTTP_OPTIONS)
    keyed = bool(body.get("authorizer"))
    return Converted(routes(body.get("method", "*"), body.get("path", "*"), path, ctx, keyed=keyed),
                     ctx.http_api_payload)


# ---- schedule ---------------------------------------------------------------------------------------------
def aws_cron(expr: str) -> tuple[str | None, str]:
    """AWS's `min hour dom month dow [year]` -> five-field cron (dow 0-6), or (None, why)."""
    fields = expr.split()
    if len(fields) not in (5, 6):
        return None, "expected six fields (minute hour day month weekday year)"
    if len(fields) == 6 and fields[5] not in ("*", "?"):
        return None, f"a year restriction ({fields[5]}) has no five-field equivalent"
    fields = ["*" if f == "?" else f for f in fields[:5]]
    if any(c in "".join(fields[2::2]) for c in "LW#"):
        return None, "L, W and # (last/weekday/nth) are not supported by every target"
    fields[4] = DOW_NUMBER.sub(lambda m: str((int(m.group(0)) - 1) % 7), fields[4]) if "/" not in fields[4] \
        else fields[4]
    out = " ".join(fields)
    try:
        Cron(out)
    except CronError as exc:
        return None, str(exc)
    return out, ""


def _schedule(body: Any, path: Path_, ctx: Context) -> Converted:
    opts = body if isinstance(body, dict) else {}
    exprs = opts.get("rate") if opts else body
    exprs = exprs if isinstance(exprs, list) else [exprs]
    if opts.get("enabled") is False:
        ctx.notes.add((*path, "enabled"), "a disabled schedule: not converted", "add it when you enable it")
        return Converted()
    for key in opts:
        if key in ("input", "inputPath", "inputTransformer"):
            ctx.notes.add((*path, key), "the handler received this input instead of the scheduled event; "
                          "multicloud delivers the scheduled event", "read the input from the environment or code")
        elif key == "timezone":
            ctx.notes.add((*path, key), f"time zone {opts[key]} not converted: multicloud schedules run in UTC",
                          "shift the cron hours to UTC")
        elif key not in ("rate", "enabled"):
            ctx.notes.info((*path, key), "not carried over (a name, description or delivery setting)")
    out = Converted()
    for index, expr in enumerate(exprs):
        where = (*path, "rate", index) if len(exprs) > 1 else path
        if not isinstance(expr, str):
            ctx.notes.add(where, f"schedule {expr!r} not converted", "write rate(N minutes) or cron(...)")
            continue
        rate, cron = RATE.match(expr.strip()), CRON.match(expr.strip())
        if rate:
            out.triggers.append({"schedule": {"rate": f"{int(rate.group(1))}{rate.group(2)[0].lower()}"}})
        elif cron:
            five, why = aws_cron(cron.group(1))
            if five is None:
                ctx.notes.add(where, f"schedule {expr!r} not converted: {why}", "write a five-field cron for it")
            else:
                out.triggers.append({"schedule": {"cron": five}})
        else:
            ctx.notes.add(where, f"schedule {expr!r} not understood", "write rate(N minutes) or cron(...)")
    return out


# ---- queues and streams -----------------------------------------------------------------------------------
SOURCE_OPTIONS: dict[str, advice.Advice] = {
    "maximumBatchingWindow": ("review", "the batching window is not carried over", "aws: set it on the event "
                              "source mapping after deploying"),
    "batchWindow": ("review", "the batching window is not carried over", "aws: set it on the event source "
                    "mapping after deploying"),
    "functionResponseType": ("info", "partial batch failure reporting: a style aws handler's batchItemFailures "
                             "are honoured on every target", ""),
    "filterPatterns": ("review", "event filtering is not carried over", "filter in the handler"),
    "maximumConcurrency": ("review", "the concurrency cap is not carried over", advice.CONCURRENCY[2]),
    "maximumRetryAttempts": ("review", "retry limits are not carried over", "aws: set them on the event source "
                             "mapping after deploying"),
    "maximumRecordAgeInSeconds": ("review", "record age limits are not carried over", ""),
    "bisectBatchOnFunctionError": ("review", "batch bisection is not carried over", ""),
    "parallelizationFactor": ("review", "the parallelization factor is not carried over", ""),
    "destinations": ("review", "failure destinations are not carried over", "use a dead-letter queue"),
    "tumblingWindowInSeconds": ("review", "tumbling windows are not carried over", ""),
    "consumer": ("review", "enhanced fan-out consumers are not carried over", ""),
    "startingPositionTimestamp": ("review", "AT_TIMESTAMP is not carried over", ""),
}


def _source(body: Any, path: Path_, ctx: Context, service: str) -> tuple[str | None, dict[str, Any]]:
    opts = body if isinstance(body, dict) else {}
    arn = opts.get("arn") if opts else body
    if opts.get("enabled") is False:
        ctx.notes.add((*path, "enabled"), "a disabled event source: not converted", "add it when you enable it")
        return None, opts
    target = ctx.resources.target(arn)
    if service == "kinesis" and (opts.get("type") == "dynamodb" or target.service == "dynamodb"):
        table = f" of table {target.name}" if target.name else ""
        ctx.notes.add(path, f"a DynamoDB stream{table}: no portable equivalent, not converted",
                      "aws: keep this function on Serverless or add the mapping after deploying; other targets: "
                      "publish changes to a queue from the code that writes them")
        return None, opts
    if target.service not in (None, service):
        ctx.notes.add(path, f"the source is a {target.service} resource, not {service}: not converted",
                      "check the arn")
        return None, opts
    if target.name is None:
        ctx.notes.add((*path, "arn") if opts else path, f"not converted: {target.problem}",
                      f"give the {'queue' if service == 'sqs' else 'stream'}'s real name in a trigger by hand")
        return None, opts
    kind = "queue" if service == "sqs" else "stream"
    declared = f" (declared as {target.resource.logical_id} under resources:)" if target.resource else ""
    if target.problem:
        ctx.notes.add((*path, "arn") if opts else path, f"{target.problem}; the {kind} is named "
                      f"{target.name!r}{declared}", f"set the {kind}'s real name, or give it that name")
    hint = ("aws: an SQS queue; azure: a Storage queue; gcp: a Pub/Sub topic; docker/local: events arrive "
            "through POST /_events/<function>") if kind == "queue" else (
           "aws: a Kinesis stream; azure: an Event Hub; gcp: a Pub/Sub topic; docker/local: events arrive "
           "through POST /_events/<function>")
    ctx.notes.add((*path, "arn") if opts else path, f"{kind} {target.name!r}{declared}: multicloud never creates "
                  f"{kind}s", f"create it on each target ({hint})", "info")
    return target.name, opts


def _batch(opts: dict[str, Any], path: Path_, ctx: Context, trigger: dict[str, Any]) -> None:
    size = opts.get("batchSize")
    if isinstance(size, int) and not isinstance(size, bool) and 1 <= size <= 10000:
        trigger["batch_size"] = size
    elif size is not None:
        ctx.notes.add((*path, "batchSize"), f"batch size {size!r} not converted", "use 1-10000")


def _sqs(body: Any, path: Path_, ctx: Context) -> Converted:
    name, opts = _source(body, path, ctx, "sqs")
    if name is None:
        return Converted()
    trigger: dict[str, Any] = {"name": name}
    _batch(opts, path, ctx, trigger)
    _options(opts, {"arn", "batchSize", "enabled"}, path, ctx, SOURCE_OPTIONS)
    return Converted([{"queue": trigger}])


def _stream(body: Any, path: Path_, ctx: Context) -> Converted:
    name, opts = _source(body, path, ctx, "kinesis")
    if name is None:
        return Converted()
    trigger: dict[str, Any] = {"name": name}
    _batch(opts, path, ctx, trigger)
    position = str(opts.get("startingPosition", "LATEST")).lower()
    if position in ("latest", "trim_horizon"):
        trigger["starting_position"] = position
    else:
        ctx.notes.add((*path, "startingPosition"), f"starting position {position} became latest",
                      "start from trim_horizon or latest")
    _options(opts, {"arn", "batchSize", "enabled", "type", "startingPosition"}, path, ctx, SOURCE_OPTIONS)
    return Converted([{"stream": trigger}])


# ---- s3 ---------------------------------------------------------------------------------------------------
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def _s3(body: Any, path: Path_, ctx: Context) -> Converted:
    opts = body if isinstance(body, dict) else {}
    bucket = opts.get("bucket") if opts else body
    name = ctx.resources.text(bucket) if is_intrinsic(bucket) or isinstance(bucket, str) else None
    if not name or UNKNOWN in name or "${" in name or not BUCKET_NAME.match(name):
        ctx.notes.add(path, f"bucket {bucket!r} not converted: not a known bucket name",
                      "give the bucket's real name in a storage trigger by hand")
        return Converted()
    trigger: dict[str, Any] = {"bucket": name}
    event = str(opts.get("event", "s3:ObjectCreated:*"))
    if event.startswith("s3:ObjectRemoved"):
        trigger["events"] = ["deleted"]
    elif not event.startswith("s3:ObjectCreated"):
        ctx.notes.add((*path, "event"), f"S3 event {event} not converted", "storage triggers fire on created or "
                                                                          "deleted objects")
        return Converted()
    if event not in ("s3:ObjectCreated:*", "s3:ObjectRemoved:*"):
        ctx.notes.add((*path, "event"), f"{event} became every {trigger.get('events', ['created'])[0]} object "
                      "event", "ignore the other kinds in the handler if needed")
    rules = opts.get("rules")
    for rule in rules if isinstance(rules, list) else []:
        if isinstance(rule, dict):
            for key in ("prefix", "suffix"):
                if isinstance(rule.get(key), (str, int)):
                    trigger[key] = str(rule[key])
    if opts.get("existing"):
        ctx.notes.info((*path, "existing"), f"bucket {name} already exists", "nothing: multicloud never creates "
                                                                             "buckets; it adds the notification")
    else:
        ctx.notes.add(path, f"Serverless created bucket {name}; multicloud never creates buckets",
                      "create it on each target (aws: S3; azure: a blob container; gcp: a Cloud Storage bucket)",
                      "info")
    _options(opts, {"bucket", "event", "rules", "existing"}, path, ctx,
             {"forceDeploy": ("info", "not needed", "")})
    return Converted([{"storage": trigger}])


CONVERTERS: dict[str, Callable[[Any, Path_, Context], Converted]] = {
    "http": _http, "httpApi": _http_api, "schedule": _schedule, "sqs": _sqs, "stream": _stream, "s3": _s3,
}
