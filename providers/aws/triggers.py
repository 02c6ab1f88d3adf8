"""Triggers, all pointed at the `live` alias: Function URL or HTTP API, Scheduler schedules, SQS and
Kinesis event source mappings (partial batch responses on), S3 notifications merged into the bucket's
existing configuration. Each `ensure_*` reads first and writes only what differs.
"""

from __future__ import annotations

import json
import re
from functools import partial
from typing import Any

from multicloud.errors import SpecError
from multicloud.project import ResolvedFunction
from multicloud.spec.models import ScheduleTrigger

from .context import Run, is_not_found
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
    if dow == "*":
        dow = "?"
    elif dom == "*":
        dom = "?"
    else:
        raise SpecError(f"cron {trig.cron!r} restricts both day-of-month and day-of-week",
                        fix="AWS schedules accept only one of them: set the other to *", where=where)
    if dow != "?":
        dow = re.sub(r"\d+", lambda m: str(int(m.group()) % 7 + 1), dow)  # cron 0=Sun, AWS 1=Sun
    return f"cron({minute} {hour} {dom} {month} {dow} *)"


# ---- resource policy (who may invoke the alias) ----------------------------------------------------
def desired_statements(run: Run, fn: ResolvedFunction, sources: Sources, api_id: str | None
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
        out["multicloud-http-api"] = {"Action": "lambda:InvokeFunction", "Principal": "apigateway.amazonaws.com",
                                      "SourceArn": run.aws.arn("execute-api", f"{api_id}/*")}
    for bucket, arn in sorted(sources.buckets.items()):
        out[f"multicloud-s3-{bucket}"[:100]] = {"Action": "lambda:InvokeFunction", "Principal": "s3.amazonaws.com",
                                                "SourceArn": arn, "SourceAccount": run.aws.account}
    return out


def ensure_permissions(run: Run, names: Names, wanted: dict[str, dict[str, Any]]) -> None:
    lam = run.aws.client("lambda")
    name = names.lambda_name
    try:
        policy = json.loads(lam.get_policy(FunctionName=name, Qualifier=ALIAS)["Policy"])
        sids = {s.get("Sid") for s in policy.get("Statement", [])}
    except Exception as exc:
        if not is_not_found(exc):
            raise
        sids = set()
    for sid, args in wanted.items():
        if sid in sids:
            run.noop(f"lambda permission {name}:{sid}")
            continue
        run.write("create", f"lambda permission {name}:{sid}", partial(
            lam.add_permission, FunctionName=name, Qualifier=ALIAS, StatementId=sid, **args))
    for sid in sorted(s for s in sids if isinstance(s, str) and s.startswith("multicloud-") and s not in wanted):
        run.write("delete", f"lambda permission {name}:{sid}", partial(
            lam.remove_permission, FunctionName=name, Qualifier=ALIAS, StatementId=sid))


# ---- http ------------------------------------------------------------------------------------------
def ensure_function_url(run: Run, names: Names, fn: ResolvedFunction,
                        deployed: str | None = None) -> str | None:
    """`deployed`: the URL the last deploy recorded; if the target has none now, it is drift."""
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
    resource = f"lambda function url {name}:{ALIAS}"
    if not want:
        if current is not None:
            run.write("delete", resource, lambda: lam.delete_function_url_config(FunctionName=name,
                                                                                 Qualifier=ALIAS))
        return None
    if current is None:
        created = run.write("create", resource, lambda: lam.create_function_url_config(
            FunctionName=name, Qualifier=ALIAS, AuthType=auth),
            f"drift: {deployed} was deleted outside multicloud" if deployed else "")
        return str(created["FunctionUrl"]) if created else None
    if current.get("AuthType") != auth:
        run.write("update", resource, lambda: lam.update_function_url_config(
            FunctionName=name, Qualifier=ALIAS, AuthType=auth), f"auth {auth}")
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


def ensure_http_api(run: Run, names: Names, fn: ResolvedFunction, target_arn: str,
                    tags: dict[str, str]) -> tuple[str | None, str | None]:
    """API Gateway HTTP API (quick create: $default route and auto-deployed stage). (api id, url)."""
    api = run.aws.client("apigatewayv2")
    want = run.settings.http == "http_api" and bool(fn.triggers_of("http"))
    current = find_http_api(run, names)
    resource = f"apigateway http api {names.base}"
    if not want:
        if current is not None:
            run.write("delete", resource, lambda: api.delete_api(ApiId=current["ApiId"]))
        return None, None
    if current is None:
        created = run.write("create", resource, lambda: api.create_api(
            Name=names.base, ProtocolType="HTTP", Target=target_arn, Tags=tags))
        if not created:
            return None, None
        return str(created["ApiId"]), str(created.get("ApiEndpoint", ""))
    run.noop(resource)
    return str(current["ApiId"]), str(current.get("ApiEndpoint", ""))


# ---- schedules -------------------------------------------------------------------------------------
def ensure_schedules(run: Run, names: Names, fn: ResolvedFunction, target_arn: str, role_arn: str | None
                     ) -> None:
    sched = run.aws.client("scheduler")
    wanted: dict[str, str] = {}
    for i, trig in enumerate(fn.triggers_of("schedule")):
        assert trig.schedule is not None
        wanted[names.schedule(i)] = schedule_expression(trig.schedule, f"functions.{fn.name}.triggers")
    existing = list_schedules(run, names)
    for sname, expr in wanted.items():
        target = {"Arn": target_arn, "RoleArn": role_arn or "",
                  "Input": scheduler_input(sname, expr, run.aws.region, run.aws.account)}
        args = dict(Name=sname, ScheduleExpression=expr, ScheduleExpressionTimezone="UTC",
                    FlexibleTimeWindow={"Mode": "OFF"}, Target=target, State="ENABLED",
                    Description="managed by multicloud")
        if sname not in existing:
            run.write("create", f"scheduler schedule {sname}", partial(sched.create_schedule, **args), expr)
            continue
        cur = sched.get_schedule(Name=sname)
        same = (cur.get("ScheduleExpression") == expr and cur.get("State") == "ENABLED"
                and cur.get("Target", {}).get("Arn") == target_arn
                and cur.get("Target", {}).get("RoleArn") == role_arn
                and cur.get("Target", {}).get("Input") == target["Input"])
        if same:
            run.noop(f"scheduler schedule {sname}")
        else:
            run.write("update", f"scheduler schedule {sname}", partial(sched.update_schedule, **args), expr)
    for sname in sorted(set(existing) - set(wanted)):
        run.write("delete", f"scheduler schedule {sname}", partial(sched.delete_schedule, Name=sname))


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


def ensure_mappings(run: Run, names: Names, fn: ResolvedFunction, sources: Sources, target_arn: str) -> None:
    lam = run.aws.client("lambda")
    wanted: dict[str, dict[str, Any]] = {}
    for trig in fn.triggers:
        if trig.queue is not None:
            wanted[sources.queues[trig.queue.name]] = {"BatchSize": trig.queue.batch_size}
        elif trig.stream is not None:
            wanted[sources.streams[trig.stream.name]] = {
                "BatchSize": trig.stream.batch_size,
                "StartingPosition": STARTING[trig.stream.starting_position]}
    existing = {m["EventSourceArn"]: m for m in list_mappings(run, target_arn)}
    for arn, args in wanted.items():
        resource = f"lambda event source mapping {names.lambda_name} <- {arn.rsplit(':', 1)[-1]}"
        cur = existing.get(arn)
        if cur is None:
            run.write("create", resource, partial(
                lam.create_event_source_mapping, FunctionName=target_arn, EventSourceArn=arn, Enabled=True,
                FunctionResponseTypes=BATCH_RESPONSES, **args))
        elif cur.get("BatchSize") != args["BatchSize"] or list(cur.get("FunctionResponseTypes") or []) \
                != BATCH_RESPONSES:
            run.write("update", resource, partial(
                lam.update_event_source_mapping, UUID=cur["UUID"], BatchSize=args["BatchSize"],
                FunctionResponseTypes=BATCH_RESPONSES))
        else:
            run.noop(resource)
    for arn, cur in sorted(existing.items()):
        if arn not in wanted:
            run.write("delete", f"lambda event source mapping {cur['UUID']}",
                      partial(lam.delete_event_source_mapping, UUID=cur["UUID"]))


# ---- storage ---------------------------------------------------------------------------------------
def _clean(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k != "ResponseMetadata"}


def ensure_notifications(run: Run, names: Names, fn: ResolvedFunction, buckets: list[str], target_arn: str
                         ) -> None:
    """Merge this function's notifications into each bucket's configuration, leaving others untouched.

    `buckets` also lists buckets the function used before, so dropped triggers are cleaned up.
    """
    s3 = run.aws.client("s3")
    prefix = names.notification_prefix
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
        lambdas = config.get("LambdaFunctionConfigurations", [])
        ours = [c for c in lambdas if str(c.get("Id", "")).startswith(prefix)]
        others = [c for c in lambdas if not str(c.get("Id", "")).startswith(prefix)]
        if _normal(ours) == _normal(wanted):
            if wanted:
                run.noop(f"s3 notification {bucket}")
            continue
        merged = {**config, "LambdaFunctionConfigurations": others + wanted}
        if not merged["LambdaFunctionConfigurations"]:
            del merged["LambdaFunctionConfigurations"]
        run.write("update" if wanted else "delete", f"s3 notification {bucket} -> {names.lambda_name}",
                  partial(s3.put_bucket_notification_configuration,
                          Bucket=bucket, NotificationConfiguration=merged))


def _normal(items: list[dict[str, Any]]) -> str:
    def norm(c: dict[str, Any]) -> dict[str, Any]:
        rules = sorted((r.get("Name", "").lower(), r.get("Value", ""))
                       for r in c.get("Filter", {}).get("Key", {}).get("FilterRules", []))
        return {"Id": c.get("Id"), "Arn": c.get("LambdaFunctionArn"), "Events": sorted(c.get("Events", [])),
                "Rules": rules}
    return json.dumps(sorted((norm(c) for c in items), key=lambda c: str(c["Id"])), sort_keys=True)
