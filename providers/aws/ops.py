"""invoke, rollback, status and remove: the operations that act on what deploy made."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from multicloud.project import Project, ResolvedFunction
from multicloud.provider import (
    DeployResult,
    FunctionStatus,
    InvokeRequest,
    InvokeResult,
    Progress,
    RemoveResult,
    StatusReport,
)
from multicloud.state import clear_state, read_state

from . import function as fnmod
from . import iam, redrive, triggers
from .clients import Aws
from .context import Run, is_not_found
from .events import sample_event
from .names import ALIAS, TAG_SERVICE, TAG_STAGE, Names
from .settings import AwsSettings


def _run(aws: Aws, project: Project, settings: AwsSettings, progress: Progress) -> Run:
    return Run(aws=aws, settings=settings, service=project.name, dry=False, progress=progress)


# ---- invoke ----------------------------------------------------------------------------------------
def invoke(aws: Aws, project: Project, settings: AwsSettings, request: InvokeRequest) -> InvokeResult:
    fn = project.function("aws", request.function)
    names = Names(project.name, settings.stage, fn.name)
    event = sample_event(fn, request, aws.region, aws.account, names.base)
    started = time.perf_counter()
    # "name:alias" rather than Qualifier=: same meaning on AWS, and moto 5.2 ignores the Qualifier parameter
    resp = aws.client("lambda").invoke(FunctionName=f"{names.lambda_name}:{ALIAS}",
                                       Payload=json.dumps(event).encode(), LogType="Tail")
    took = (time.perf_counter() - started) * 1000
    payload: bytes = resp["Payload"].read()
    if resp.get("FunctionError"):
        try:
            data = json.loads(payload)
            message = f"{data.get('errorType', 'Error')}: {data.get('errorMessage', '')}"
        except (ValueError, AttributeError):
            message = payload.decode("utf-8", "replace")
        return InvokeResult(fn.name, ok=False, body=payload, error=message, duration_ms=took)
    if request.trigger != "http":
        return InvokeResult(fn.name, ok=True, body=payload, duration_ms=took)
    return _http_result(fn.name, payload, took)


def _http_result(name: str, payload: bytes, took: float) -> InvokeResult:
    """Read a Function URL / HTTP API v2 response the way the service would."""
    try:
        data: Any = json.loads(payload) if payload else None
    except ValueError:
        data = None
    if not (isinstance(data, dict) and "statusCode" in data):
        # payload 2.0: a value without statusCode is a 200 JSON response
        return InvokeResult(name, ok=True, status=200, headers={"content-type": "application/json"},
                            body=payload, duration_ms=took)
    headers = {str(k).lower(): str(v) for k, v in (data.get("headers") or {}).items()}
    if data.get("cookies"):
        headers["set-cookie"] = ", ".join(data["cookies"])
    raw = data.get("body") or ""
    body = base64.b64decode(raw) if data.get("isBase64Encoded") else str(raw).encode()
    status = int(data["statusCode"])
    return InvokeResult(name, ok=status < 500, status=status, headers=headers, body=body, duration_ms=took)


# ---- rollback --------------------------------------------------------------------------------------
def rollback(aws: Aws, project: Project, settings: AwsSettings, progress: Progress) -> DeployResult:
    run = _run(aws, project, settings, progress)
    moved: dict[str, str] = {}
    for fn in project.functions_for("aws"):
        name = Names(project.name, settings.stage, fn.name).lambda_name
        current, previous = fnmod.previous_version(run, name)
        run.write("update", f"lambda alias {name}:{ALIAS}", "lambda:UpdateAlias", dict(
            FunctionName=name, Name=ALIAS, FunctionVersion=previous,
            Description=fnmod.alias_description(previous)), f"{current} -> {previous}")
        moved[f"{fn.name}.version"] = previous
        moved[f"{fn.name}.previous"] = current
    return DeployResult(target="aws", version=",".join(v for k, v in moved.items() if k.endswith(".version")),
                        changed=True, details=moved)


# ---- status ----------------------------------------------------------------------------------------
def status(aws: Aws, project: Project, settings: AwsSettings) -> StatusReport:
    lam = aws.client("lambda")
    out: list[FunctionStatus] = []
    for fn in project.functions_for("aws"):
        name = Names(project.name, settings.stage, fn.name).lambda_name
        try:
            conf = lam.get_function_configuration(FunctionName=name, Qualifier=ALIAS)
        except Exception as exc:
            if not is_not_found(exc):
                raise
            out.append(FunctionStatus(fn.name, "missing", detail=f"no function {name} with a `{ALIAS}` alias"))
            continue
        url = None
        try:
            url = lam.get_function_url_config(FunctionName=name, Qualifier=ALIAS)["FunctionUrl"]
        except Exception as exc:
            if not is_not_found(exc):
                raise
        state = str(conf.get("State", "Active")).lower()
        if conf.get("LastUpdateStatus") == "Failed":
            state = "failed"
        out.append(FunctionStatus(fn.name, state, version=str(conf.get("Version")), endpoint=url,
                                  detail=f"{name} {conf.get('Runtime')} {conf.get('MemorySize')} MB"))
    deployed = any(f.state != "missing" for f in out)
    return StatusReport(target="aws", deployed=deployed, functions=tuple(out),
                        details={"region": aws.region, "stage": settings.stage})


# ---- remove ----------------------------------------------------------------------------------------
def owned_functions(aws: Aws, project: Project, settings: AwsSettings) -> dict[str, str]:
    """{function: lambda name}: the spec's, the state's, and any Lambda tagged as this service and stage."""
    found = {fn.name: Names(project.name, settings.stage, fn.name).lambda_name
             for fn in project.functions_for("aws")}
    for short, facts in read_state(project, "aws").get("functions", {}).items():
        found.setdefault(short, str(facts.get("name") or Names(project.name, settings.stage, short).lambda_name))
    lam = aws.client("lambda")
    prefix = f"{project.name}-{settings.stage}-"
    for page in lam.get_paginator("list_functions").paginate():
        for conf in page.get("Functions", []):
            fname = str(conf["FunctionName"])
            if not fname.startswith(prefix) or fname in found.values():
                continue
            tags = lam.list_tags(Resource=conf["FunctionArn"]).get("Tags", {})
            if tags.get(TAG_SERVICE) == project.name and tags.get(TAG_STAGE) == settings.stage:
                found[fname.removeprefix(prefix)] = fname
    return found


def remove(aws: Aws, project: Project, settings: AwsSettings, progress: Progress) -> RemoveResult:
    run = _run(aws, project, settings, progress)
    state_fns = read_state(project, "aws").get("functions", {})
    spec_fns = {f.name: f for f in project.functions_for("aws")}
    queues = set(project.channels_for("aws", "queue"))
    for short, lname in sorted(owned_functions(aws, project, settings).items()):
        spec_fn = spec_fns.get(short)
        buckets = [t.storage.bucket for t in (spec_fn.triggers if spec_fn else ()) if t.storage is not None]
        buckets += list(state_fns.get(short, {}).get("buckets", []))
        queues |= remove_function(run, project, short, lname, buckets)
        queues |= set(state_fns.get(short, {}).get("queues", []))
    redrive.remove(run, queues)
    _delete_artifacts(run, project, settings)
    clear_state(project, "aws")
    return RemoveResult(target="aws", removed=tuple(c.resource for c in run.changes if c.action == "delete"))


def remove_function(run: Run, project: Project, short: str, lname: str, buckets: list[str]) -> set[str]:
    """Delete one function and everything multicloud made for it (also used by deploy for functions
    dropped from the spec). Returns the SQS queues it read, whose dead-letter queues the caller removes
    once no other function reads them (`redrive.remove`)."""
    aws, lam = run.aws, run.aws.client("lambda")
    names = Names(project.name, run.settings.stage, short)
    bare = ResolvedFunction(name=short, handler="x.y", memory=128, timeout=3, env={}, secrets={}, triggers=())
    target = fnmod.alias_arn(run, names)
    triggers.ensure_notifications(run, names, bare, buckets, target)
    mappings = {m["UUID"]: m for arn in (target, fnmod.function_arn(run, names))
                for m in triggers.list_mappings(run, arn)}
    for uuid in mappings:
        run.write("delete", f"lambda event source mapping {uuid}", "lambda:DeleteEventSourceMapping", dict(UUID=uuid))
    queues = {str(m["EventSourceArn"]).rsplit(":", 1)[-1] for m in mappings.values()
              if ":sqs:" in str(m.get("EventSourceArn", ""))}
    triggers.ensure_schedules(run, names, bare, target, None)
    api = triggers.find_http_api(run, names)
    if api is not None:
        run.write("delete", f"apigateway http api {names.base}", "apigatewayv2:DeleteApi", dict(ApiId=api["ApiId"]))
    try:
        lam.get_function(FunctionName=lname)
        run.write("delete", f"lambda function {lname}", "lambda:DeleteFunction", dict(FunctionName=lname))
    except Exception as exc:
        if not is_not_found(exc):
            raise
    for role in (names.role, names.scheduler_role):
        if _owned_role(aws, role, project.name):
            iam.delete_role(run, role)
    _delete_log_group(run, names.log_group)
    return queues


def _owned_role(aws: Aws, role: str, service: str) -> bool:
    try:
        tags = aws.client("iam").list_role_tags(RoleName=role).get("Tags", [])
    except Exception as exc:
        if is_not_found(exc):
            return False
        raise
    return any(t["Key"] == TAG_SERVICE and t["Value"] == service for t in tags)


def _delete_log_group(run: Run, group: str) -> None:
    logs = run.aws.client("logs")
    groups = logs.describe_log_groups(logGroupNamePrefix=group).get("logGroups", [])
    if any(g["logGroupName"] == group for g in groups):
        run.write("delete", f"log group {group}", "logs:DeleteLogGroup", dict(logGroupName=group))


def _delete_artifacts(run: Run, project: Project, settings: AwsSettings) -> None:
    bucket = settings.artifact_bucket
    if not bucket:
        return
    s3 = run.aws.client("s3")
    prefix = f"multicloud/{project.name}/{settings.stage}/"
    try:
        pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix))
    except Exception as exc:
        if is_not_found(exc):
            return
        raise
    for page in pages:
        for obj in page.get("Contents", []):
            run.write("delete", f"s3 object s3://{bucket}/{obj['Key']}", "s3:DeleteObject",
                      dict(Bucket=bucket, Key=obj["Key"]))


