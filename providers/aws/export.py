"""Export the deployment as an AWS SAM template (`multicloud export --target aws --format sam`).

The template describes the same deployment `multicloud deploy` makes: function, `live` alias
(AutoPublishAlias), Function URL or HTTP API, SQS/Kinesis mappings with partial batch responses,
Scheduler schedules, least-privilege secret reads, tags. S3 notifications on an existing bucket cannot
be expressed in SAM or CloudFormation (SAM's S3 event needs the bucket in the same template): the template
grants S3 the invoke permission and lists the notifications under Metadata for `multicloud deploy`.
No secret value ever appears: only references.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import yaml

from multicloud.errors import UnsupportedError
from multicloud.project import Project, ResolvedFunction
from multicloud.state import build_dir

from .build import PACKAGE
from .names import ALIAS, SECRETS_ENV, Names
from .settings import AwsSettings
from .triggers import S3_EVENTS, STARTING, schedule_expression

FORMATS = ("sam",)


def _logical(name: str, suffix: str = "Function") -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]", name) if part) + suffix


def _sub(resource: str) -> dict[str, str]:
    return {"Fn::Sub": resource}


def _secret_statements(fn: ResolvedFunction) -> list[dict[str, Any]]:
    by_action: dict[str, list[Any]] = {}
    for ref in sorted(fn.secrets.values()):
        scheme, _, loc = ref.partition(":")
        if scheme == "ssm":
            action = "ssm:GetParameter"
            res: Any = loc if loc.startswith("arn:") else _sub(
                "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/" + loc.lstrip("/"))
        else:
            action = "secretsmanager:GetSecretValue"
            res = loc if loc.startswith("arn:") else _sub(
                "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:" + loc + "-??????")
        by_action.setdefault(action, []).append(res)
    return [{"Effect": "Allow", "Action": [a], "Resource": r} for a, r in sorted(by_action.items())]


def function_resource(project: Project, settings: AwsSettings, fn: ResolvedFunction, code_uri: str
                      ) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """(function resource, extra resources, S3 notifications to apply outside the template)."""
    names = Names(project.name, settings.stage, fn.name)
    env = dict(fn.env)
    if fn.secrets:
        env[SECRETS_ENV] = json.dumps(fn.secrets, sort_keys=True)
    props: dict[str, Any] = {
        "FunctionName": names.lambda_name,
        "CodeUri": code_uri,
        "Handler": names.handler,
        "Runtime": project.spec.runtime,
        "Architectures": [settings.architecture],
        "MemorySize": fn.memory,
        "Timeout": fn.timeout,
        "AutoPublishAlias": ALIAS,
        "Tags": names.tags(settings.tags),
    }
    if fn.description:
        props["Description"] = fn.description
    if env:
        props["Environment"] = {"Variables": env}
    statements = _secret_statements(fn)
    if statements:
        props["Policies"] = [{"Statement": statements}]
    events: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    notifications: list[dict[str, Any]] = []
    http = fn.triggers_of("http")
    logical = _logical(fn.name)
    if http and settings.http == "function_url":
        auth = "AWS_IAM" if any(t.http is not None and t.http.auth == "key" for t in http) else "NONE"
        props["FunctionUrlConfig"] = {"AuthType": auth}
    for i, trig in enumerate(fn.triggers):
        if trig.http is not None and settings.http == "http_api":
            path = re.sub(r"\{(\w+)\+\}", r"{\1+}", trig.http.path)
            for method in trig.http.methods:
                events[f"Http{i}{method.capitalize()}"] = {"Type": "HttpApi", "Properties": {
                    "Path": path, "Method": method}}
        elif trig.queue is not None:
            events[f"Queue{i}"] = {"Type": "SQS", "Properties": {
                "Queue": _sub("arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:" + trig.queue.name),
                "BatchSize": trig.queue.batch_size, "FunctionResponseTypes": ["ReportBatchItemFailures"]}}
        elif trig.stream is not None:
            events[f"Stream{i}"] = {"Type": "Kinesis", "Properties": {
                "Stream": _sub("arn:${AWS::Partition}:kinesis:${AWS::Region}:${AWS::AccountId}:stream/"
                               + trig.stream.name),
                "StartingPosition": STARTING[trig.stream.starting_position],
                "BatchSize": trig.stream.batch_size, "FunctionResponseTypes": ["ReportBatchItemFailures"]}}
        elif trig.schedule is not None:
            events[f"Schedule{i}"] = {"Type": "ScheduleV2", "Properties": {
                "ScheduleExpression": schedule_expression(trig.schedule, f"functions.{fn.name}.triggers"),
                "ScheduleExpressionTimezone": "UTC", "Name": names.schedule(i),
                "FlexibleTimeWindow": {"Mode": "OFF"}}}
        elif trig.storage is not None:
            bucket = trig.storage.bucket
            perm = _logical(f"{fn.name}-s3-{bucket}", "Permission")
            extra[perm] = {"Type": "AWS::Lambda::Permission", "Properties": {
                "Action": "lambda:InvokeFunction", "Principal": "s3.amazonaws.com",
                "FunctionName": {"Ref": f"{logical}.Alias"},
                "SourceArn": _sub("arn:${AWS::Partition}:s3:::" + bucket),
                "SourceAccount": {"Ref": "AWS::AccountId"}}}
            notifications.append({"Bucket": bucket, "Function": names.lambda_name, "Alias": ALIAS,
                                  "Events": [S3_EVENTS[e] for e in trig.storage.events],
                                  "Prefix": trig.storage.prefix, "Suffix": trig.storage.suffix})
    if events:
        props["Events"] = events
    return {"Type": "AWS::Serverless::Function", "Properties": props}, extra, notifications


def template(project: Project, settings: AwsSettings, code_uri: str) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    notifications: list[dict[str, Any]] = []
    for fn in project.functions_for("aws"):
        res, extra, notes = function_resource(project, settings, fn, code_uri)
        logical = _logical(fn.name)
        resources[logical] = res
        resources.update(extra)
        notifications += notes
        if "FunctionUrlConfig" in res["Properties"]:
            outputs[f"{logical}Url"] = {"Value": {"Fn::GetAtt": [f"{logical}Url", "FunctionUrl"]}}
    if any("HttpApi" == e["Type"] for r in resources.values()
           for e in r.get("Properties", {}).get("Events", {}).values()):
        outputs["HttpApiUrl"] = {"Value": _sub("https://${ServerlessHttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/")}
    doc: dict[str, Any] = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Description": f"{project.name} ({settings.stage}), exported by multicloud",
        "Resources": resources,
    }
    if notifications:
        doc["Metadata"] = {"multicloud": {"S3Notifications": notifications, "Note": (
            "S3 notifications on existing buckets cannot be declared in CloudFormation; "
            "`multicloud deploy --target aws` merges them into each bucket's configuration.")}}
    if outputs:
        doc["Outputs"] = outputs
    return doc


def export(project: Project, settings: AwsSettings, fmt: str, out_dir: Path) -> list[Path]:
    if fmt not in FORMATS:
        raise UnsupportedError(f"the aws target exports {', '.join(FORMATS)}, not {fmt!r}",
                               fix="use --format sam")
    out_dir.mkdir(parents=True, exist_ok=True)
    from multicloud.provider import no_progress

    from .build import build

    result = build(project, settings, build_dir(project, "aws"), no_progress)  # reused when unchanged
    shutil.copyfile(result.artifacts[0].path, out_dir / PACKAGE)
    path = out_dir / "template.yaml"
    path.write_text(yaml.safe_dump(template(project, settings, PACKAGE), sort_keys=False, width=120))
    return [path, out_dir / PACKAGE]
