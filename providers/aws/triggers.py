"""Triggers, all pointed at the `live` alias: Function URL or HTTP API, Scheduler schedules, SQS and
Kinesis event source mappings (partial batch responses on), S3 notifications merged into the bucket's
existing configuration. Each `ensure_*` reads first, writes only what differs, and says `drift: ...` where
a difference was made by hand (see `drift`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from multicloud.errors import SpecError
from multicloud.project import ResolvedFunction
from multicloud.spec.models import ScheduleTrigger

from .context import Run, Value, is_not_found, ref
from .drift import Record, check
from .events import scheduler_input
from .names import ALIAS, Names
from .sources import Sources

S3_EVENTS = {"created": "s3:ObjectCreated:*", "deleted": "s3:ObjectRemoved:*"}
BATCH_RESPONSES = ["ReportBatchItemFailures"]
STARTING = {"latest": "LATEST", "trim_horizon": "TRIM_HORIZON"}


# ---- schedule expressions --------------------------------------------------------------------------
def schedule_expression(trig: ScheduleTrigger, where: str) -> str:
    """'5m' -> rate(5 minutes); five-field cron -> AWS's six fields (day-of-week 1-7, one '?')."""
    seconds = trig.rate_seconds
    if seconds is not None:
        for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
            if seconds % size == 0:
                n = seconds // size
                return f"rate({n} {unit}{'s' if n != 1 else ''})"
    assert trig.cron is not None
    minute, hour, dom, month, dow = trig.cron.split()
    if dow in ("*", "?"):
        dow = "?"
    elif dom in ("*", "?"):
        dom = "?"
    else:
        raise SpecError(f"cron {trig.cron!r} restricts both day-of-month and day-of-week",
                        fix="AWS schedules accept only one of them: set the other to *", where=where)
    if dow != "?":
        dow = ",".join(_aws_weekdays(part, trig.cron, where) for part in dow.split(","))
    return f"cron({minute} {hour} {dom} {month} {dow} *)"


def _aws_weekdays(part: str, cron: str, where: str) -> str:
    """One comma part of a cron weekday field, renumbered for AWS (cron 0 or 7 = Sunday, AWS 1 = Sunday);
    a step keeps its number, a range ending on Sunday (7) wraps: 5-7 -> 6-7,1."""
    span, slash, step = part.partition("/")
    start, dash, end = span.partition("-")

    def day(text: str) -> str:
        return str(int(text) % 7 + 1) if text.isdigit() else text

    if not dash:
        return day(start) + slash + step
    if end == "7" and start.isdigit() and int(start) > 0:
        if slash:
            raise SpecError(f"cron {cron!r}: a stepped weekday range ending on 7 has no AWS equivalent",
                            fix="write the days out (e.g. 1,3,5) or use 0-6", where=where)
        return f"{day(start)}-7,1"
    return f"{day(start)}-{'7' if end == '7' else day(end)}{slash}{step}"


# ---- resource policy (who may invoke the alias) ----------------------------------------------------
def desired_statements(run: Run, fn: ResolvedFunction, sources: Sources, api_id: Value | None
                       ) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    http = fn.triggers_of("http")
    if http and run.settings.http == "function_url":
        if all(t.http is not None and t.http.auth == "none" for t in http):
            out["multicloud-url"] = {"Action": "lambda:InvokeFunctionUrl", "Principal": "*",
                                     "FunctionUrlAuthType": "NONE"}
            out["multicloud-url-invoke"] = {"Action": "lambda:InvokeFunction", "Principal": "*",
                                            "InvokedViaFunctionUrl": True}
    if http and run.settings.http == "http_api" and api_id:
        source: Value = (dict(api_id, format=run.aws.arn("execute-api", "{}/*")) if isinstance(api_id, dict)
                         else run.aws.arn("execute-api", f"{api_id}/*"))
        out["multicloud-http-api"] = {"Action": "lambda:InvokeFunction", "Principal": "apigateway.amazonaws.com",
                                      "SourceArn": source}
    for bucket, arn in sorted(sources.buckets.items()):
        out[f"multicloud-s3-{bucket}"[:100]] = {"Action": "lambda:InvokeFunction", "Principal": "s3.amazonaws.com",
                                                "SourceArn": arn, "SourceAccount": run.aws.account}
    return out


def _source(statement: dict[str, Any]) -> object:
    return (statement.get("Condition") or {}).get("ArnLike", {}).get("AWS:SourceArn")


def ensure_permissions(run: Run, names: Names, wanted: dict[str, dict[str, Any]], record: Record | None = None
                       ) -> None:
    lam = run.aws.client("lambda")
    name = names.lambda_name
    try:
        policy = json.loads(lam.get_policy(FunctionName=name, Qualifier=ALIAS)["Policy"])
    except Exception as exc:
        if not is_not_found(exc):
            raise
        policy = {}
    current = {str(s["Sid"]): {"source": _source(s)} for s in policy.get("Statement", [])
               if str(s.get("Sid", "")).startswith(names.statement_prefix)}
    want = {sid: {"source": args.get("SourceArn")} for sid, args in wanted.items()}
    drift = check(record, "permissions", current, want)
    for sid, args in wanted.items():
        resource = f"lambda permission {name}:{sid}"
        add = dict(FunctionName=name, Qualifier=ALIAS, StatementId=sid, **args)
        if current.get(sid) == want[sid]:
            run.noop(resource)
        elif sid in current:  # same statement, another source (e.g. an HTTP API made again): replace it
            run.write("update", resource, "lambda.replace_permission", add,
                      drift.label(sid, "the statement", "source"))
        else:
            run.write("create", resource, "lambda:AddPermission", add, drift.label(sid, "the statement"))
    for sid in sorted(set(current) - set(wanted)):
        run.write("delete", f"lambda permission {name}:{sid}", "lambda:RemovePermission",
                  dict(FunctionName=name, Qualifier=ALIAS, StatementId=sid), drift.label(sid, "the statement"))


# ---- http ------------------------------------------------------------------------------------------
def ensure_function_url(run: Run, names: Names, fn: ResolvedFunction, deployed: str | None = None,
                        record: Record | None = None) -> Value | None:
    """`deployed`: the URL the last deploy recorded (named in a drift detail: a new URL gets a new address).
    Returns the URL, a reference to the one a planned create makes, or None."""
    lam = run.aws.client("lambda")
    name = names.lambda_name
    http = fn.triggers_of("http")
    want = run.settings.http == "function_url" and bool(http)
    auth = "AWS_IAM" if any(t.http is not None and t.http.auth == "key" for t in http) else "NONE"
    try:
        current: dict[str, Any] | None = lam.get_function_url_config(FunctionName=name, Qualifier=ALIAS)
    except Exception as exc:
        if not is_not_found(exc):
            raise
        current = None
    drift = check(record, "url", {"url": {"auth": current["AuthType"]}} if current else {},
                  {"url": {"auth": auth}} if want else {})
    resource = f"lambda function url {name}:{ALIAS}"
    if not want:
        if current is not None:
            run.write("delete", resource, "lambda:DeleteFunctionUrlConfig", dict(FunctionName=name, Qualifier=ALIAS))
        return None
    if current is None:
        key = f"url:{name}"
        run.write("create", resource, "lambda:CreateFunctionUrlConfig", dict(
            FunctionName=name, Qualifier=ALIAS, AuthType=auth), drift.label("url", deployed or "the function URL"),
            out=key)
        return ref(key, "FunctionUrl")
    if current.get("AuthType") != auth:
        run.write("update", resource, "lambda:UpdateFunctionUrlConfig", dict(
            FunctionName=name, Qualifier=ALIAS, AuthType=auth), drift.label("url", "the function URL", f"auth {auth}"))
    else:
        run.noop(resource)
    return str(current["FunctionUrl"])


def find_http_api(run: Run, names: Names) -> dict[str, Any] | None:
    api = run.aws.client("apigatewayv2")
    for page in api.get_paginator("get_apis").paginate():
        for item in page.get("Items", []):
            if item.get("Name") == names.base:
                return dict(item)
    return None


def _default_route(api: Any, api_id: str) -> dict[str, Any] | None:
    for route in api.get_routes(ApiId=api_id).get("Items", []):
        if route.get("RouteKey") == "$default":
            return dict(route)
    return None


def ensure_http_api(run: Run, names: Names, fn: ResolvedFunction, target_arn: str,
                    tags: dict[str, str], record: Record | None = None) -> tuple[Any, Any]:
    """API Gateway HTTP API: a $default route to the `live` alias on an auto-deployed stage, authorized by
    IAM (SigV4) when a trigger has `auth: key`, as the Function URL is. (api id, url), or references to
    those of the API a planned step creates (apply.py `apigatewayv2.create_api`), or (None, None)."""
    api = run.aws.client("apigatewayv2")
    want = run.settings.http == "http_api" and bool(fn.triggers_of("http"))
    auth = "AWS_IAM" if any(t.http is not None and t.http.auth == "key" for t in fn.triggers_of("http")) else "NONE"
    current = find_http_api(run, names)
    route = _default_route(api, current["ApiId"]) if current is not None else None
    now: dict[str, dict[str, object]] = {"api": {}} if current else {}
    if route is not None:
        now["route"] = {"authorization": route.get("AuthorizationType", "NONE")}
    drift = check(record, "http-api", now, {"api": {}, "route": {"authorization": auth}} if want else {})
    resource = f"apigateway http api {names.base}"
    if not want:
        if current is not None:
            run.write("delete", resource, "apigatewayv2:DeleteApi", dict(ApiId=current["ApiId"]))
        return None, None
    if current is None:
        key = f"api:{names.base}"
        run.write("create", resource, "apigatewayv2.create_api", dict(Name=names.base, Tags=tags, target=target_arn,
                  auth=auth), drift.label("api", "the HTTP API"), out=key)
        return ref(key, "ApiId"), ref(key, "ApiEndpoint")
    api_id = str(current["ApiId"])
    run.noop(resource)
    route_resource = f"apigateway route {names.base} $default"
    if route is None:
        stage = not any(s.get("StageName") == "$default" for s in api.get_stages(ApiId=api_id).get("Items", []))
        run.write("create", route_resource, "apigatewayv2.route_to_function",
                  dict(ApiId=api_id, target=target_arn, auth=auth, stage=stage),
                  drift.label("route", "the HTTP API's route", f"authorization {auth}"))
    elif route.get("AuthorizationType", "NONE") != auth:
        run.write("update", route_resource, "apigatewayv2:UpdateRoute",
                  dict(ApiId=api_id, RouteId=route["RouteId"], AuthorizationType=auth),
                  drift.label("route", "the HTTP API's route", f"authorization {auth}"))
    else:
        run.noop(route_resource)
    return api_id, str(current.get("ApiEndpoint", ""))


# ---- schedules -------------------------------------------------------------------------------------
def _schedule_fields(schedule: dict[str, Any]) -> dict[str, object]:
    """The parts multicloud sets, from a `get_schedule` answer or the arguments of a create."""
    target = schedule.get("Target") or {}
    return {"expression": schedule.get("ScheduleExpression"), "timezone": schedule.get("ScheduleExpressionTimezone"),
            "state": schedule.get("State"), "target": target.get("Arn"), "role": target.get("RoleArn"),
            "input": target.get("Input")}


def ensure_schedules(run: Run, names: Names, fn: ResolvedFunction, target_arn: str, role_arn: str | None,
                     record: Record | None = None) -> None:
    sched = run.aws.client("scheduler")
    wanted: dict[str, dict[str, Any]] = {}
    for i, trig in enumerate(fn.triggers_of("schedule")):
        assert trig.schedule is not None
        sname = names.schedule(i)
        expr = schedule_expression(trig.schedule, f"functions.{fn.name}.triggers")
        target = {"Arn": target_arn, "RoleArn": role_arn or "",
                  "Input": scheduler_input(sname, expr, run.aws.region, run.aws.account)}
        wanted[sname] = dict(Name=sname, ScheduleExpression=expr, ScheduleExpressionTimezone="UTC",
                             FlexibleTimeWindow={"Mode": "OFF"}, Target=target, State="ENABLED",
                             Description="managed by multicloud")
    current = {sname: _schedule_fields(sched.get_schedule(Name=sname)) for sname in list_schedules(run, names)}
    want = {sname: _schedule_fields(args) for sname, args in wanted.items()}
    drift = check(record, "schedules", current, want)
    for sname, args in wanted.items():
        resource = f"scheduler schedule {sname}"
        if current.get(sname) == want[sname]:
            run.noop(resource)
            continue
        new = sname not in current
        run.write("create" if new else "update", resource,
                  "scheduler:CreateSchedule" if new else "scheduler:UpdateSchedule", args,
                  drift.label(sname, "the schedule", args["ScheduleExpression"]))
    for sname in sorted(set(current) - set(wanted)):
        run.write("delete", f"scheduler schedule {sname}", "scheduler:DeleteSchedule", dict(Name=sname),
                  drift.label(sname, "the schedule"))


def list_schedules(run: Run, names: Names) -> list[str]:
    sched = run.aws.client("scheduler")
    pattern = re.compile(re.escape(names.base) + r"-\d+$")
    out: list[str] = []
    token: str | None = None
    while True:
        page = sched.list_schedules(NamePrefix=names.base, **({"NextToken": token} if token else {}))
        out += [s["Name"] for s in page.get("Schedules", []) if pattern.match(s["Name"])]
        token = page.get("NextToken")
        if not token:
            return out


# ---- queues and streams ----------------------------------------------------------------------------
def list_mappings(run: Run, target_arn: str) -> list[dict[str, Any]]:
    lam = run.aws.client("lambda")
    out: list[dict[str, Any]] = []
    try:
        for page in lam.get_paginator("list_event_source_mappings").paginate(FunctionName=target_arn):
            out += page.get("EventSourceMappings", [])
    except Exception as exc:
        if not is_not_found(exc):
            raise
    # AWS filters by the qualified ARN; moto by the function: either way these are this function's
    return out


def _mapping_fields(mapping: dict[str, Any]) -> dict[str, object]:
    state = "Disabled" if mapping.get("State") in ("Disabled", "Disabling") else "Enabled"
    return {"batch size": mapping.get("BatchSize"), "state": state,
            "response types": list(mapping.get("FunctionResponseTypes") or [])}


def ensure_mappings(run: Run, names: Names, fn: ResolvedFunction, sources: Sources, target_arn: str,
                    record: Record | None = None) -> None:
    wanted: dict[str, dict[str, Any]] = {}
    for trig in fn.triggers:
        if trig.queue is not None:
            wanted[sources.queues[trig.queue.name]] = {"BatchSize": trig.queue.batch_size}
        elif trig.stream is not None:
            wanted[sources.streams[trig.stream.name]] = {
                "BatchSize": trig.stream.batch_size,
                "StartingPosition": STARTING[trig.stream.starting_position]}
    existing = {m["EventSourceArn"]: m for m in list_mappings(run, target_arn)}
    current = {arn: _mapping_fields(m) for arn, m in existing.items()}
    want = {arn: _mapping_fields({"BatchSize": args["BatchSize"], "FunctionResponseTypes": BATCH_RESPONSES})
            for arn, args in wanted.items()}
    drift = check(record, "mappings", current, want)
    for arn, args in wanted.items():
        resource = f"lambda event source mapping {names.lambda_name} <- {arn.rsplit(':', 1)[-1]}"
        cur = existing.get(arn)
        if cur is None:
            run.write("create", resource, "lambda:CreateEventSourceMapping", dict(
                FunctionName=target_arn, EventSourceArn=arn, Enabled=True,
                FunctionResponseTypes=BATCH_RESPONSES, **args), drift.label(arn, "the mapping"))
        elif current[arn] != want[arn]:
            run.write("update", resource, "lambda:UpdateEventSourceMapping", dict(
                UUID=cur["UUID"], BatchSize=args["BatchSize"], Enabled=True,
                FunctionResponseTypes=BATCH_RESPONSES), drift.label(arn, "the mapping"))
        else:
            run.noop(resource)
    for arn, cur in sorted(existing.items()):
        if arn not in wanted:
            run.write("delete", f"lambda event source mapping {cur['UUID']}", "lambda:DeleteEventSourceMapping",
                      dict(UUID=cur["UUID"]), drift.label(arn, "the mapping"))


# ---- storage ---------------------------------------------------------------------------------------
def _clean(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k != "ResponseMetadata"}


def ensure_notifications(run: Run, names: Names, fn: ResolvedFunction, buckets: list[str], target_arn: str,
                         record: Record | None = None) -> None:
    """Merge this function's notifications into each bucket's configuration, leaving others untouched.

    `buckets` also lists buckets the function used before, so dropped triggers are cleaned up.
    """
    s3 = run.aws.client("s3")
    prefix = names.notification_prefix
    found: dict[str, tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]] = {}
    for bucket in sorted(set(buckets)):
        wanted: list[dict[str, Any]] = []
        for i, trig in enumerate(t for t in fn.triggers if t.storage is not None and t.storage.bucket == bucket):
            assert trig.storage is not None
            rules = [{"Name": n, "Value": v} for n, v in (("prefix", trig.storage.prefix),
                                                          ("suffix", trig.storage.suffix)) if v]
            item: dict[str, Any] = {"Id": f"{prefix}{i}", "LambdaFunctionArn": target_arn,
                                    "Events": [S3_EVENTS[e] for e in trig.storage.events]}
            if rules:
                item["Filter"] = {"Key": {"FilterRules": rules}}
            wanted.append(item)
        try:
            config = _clean(s3.get_bucket_notification_configuration(Bucket=bucket))
        except Exception as exc:
            if is_not_found(exc) and not wanted:
                continue
            raise
        ours = [c for c in config.get("LambdaFunctionConfigurations", []) if str(c.get("Id", "")).startswith(prefix)]
        found[bucket] = (config, ours, wanted)
    drift = check(record, "notifications",
                  {b: {"configurations": _normal(ours)} for b, (_, ours, _) in found.items() if ours},
                  {b: {"configurations": _normal(wanted)} for b, (_, _, wanted) in found.items() if wanted})
    for bucket, (config, ours, wanted) in found.items():
        if _normal(ours) == _normal(wanted):
            if wanted:
                run.noop(f"s3 notification {bucket}")
            continue
        others = [c for c in config.get("LambdaFunctionConfigurations", []) if c not in ours]
        merged = {**config, "LambdaFunctionConfigurations": others + wanted}
        if not merged["LambdaFunctionConfigurations"]:
            del merged["LambdaFunctionConfigurations"]
        run.write("update" if wanted else "delete", f"s3 notification {bucket} -> {names.lambda_name}",
                  "s3:PutBucketNotificationConfiguration", dict(Bucket=bucket, NotificationConfiguration=merged),
                  drift.label(bucket, "the notification"))


def _normal(items: list[dict[str, Any]]) -> str:
    def norm(c: dict[str, Any]) -> dict[str, Any]:
        rules = sorted((r.get("Name", "").lower(), r.get("Value", ""))
                       for r in c.get("Filter", {}).get("Key", {}).get("FilterRules", []))
        return {"Id": c.get("Id"), "Arn": c.get("LambdaFunctionArn"), "Events": sorted(c.get("Events", [])),
                "Rules": rules}
    return json.dumps(sorted((norm(c) for c in items), key=lambda c: str(c["Id"])), sort_keys=True)
