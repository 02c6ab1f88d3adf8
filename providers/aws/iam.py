"""Least-privilege execution roles: logs for the function's own group, read on exactly its queues and
streams, read on exactly the secrets it references. Nothing for http, schedule or storage triggers (those
are granted on the function's resource policy instead). Schedules get their own role for Scheduler.
"""

from __future__ import annotations

import json
from typing import Any

from multicloud.project import ResolvedFunction

from .clients import Aws
from .context import Run, is_not_found
from .drift import Record, check
from .names import Names

LAMBDA_TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
SCHEDULER_TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "scheduler.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
SQS_ACTIONS = ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
               "sqs:ReceiveMessage"]
KINESIS_ACTIONS = ["kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords",
                   "kinesis:GetShardIterator", "kinesis:ListShards", "kinesis:SubscribeToShard"]


def secret_resource(aws: Aws, ref: str) -> tuple[str, str]:
    """(IAM action, resource ARN) that lets the runtime read one `ssm:` / `secretsmanager:` reference."""
    scheme, _, locator = ref.partition(":")
    if scheme == "ssm":
        if locator.startswith("arn:"):
            return "ssm:GetParameter", locator
        return "ssm:GetParameter", aws.arn("ssm", "parameter/" + locator.lstrip("/"))
    if locator.startswith("arn:"):
        return "secretsmanager:GetSecretValue", locator
    # Secrets Manager appends "-" and six random characters to a secret's ARN.
    return "secretsmanager:GetSecretValue", aws.arn("secretsmanager", f"secret:{locator}-??????")


def execution_policy(aws: Aws, names: Names, fn: ResolvedFunction, queue_arns: list[str],
                     stream_arns: list[str]) -> dict[str, Any]:
    group = aws.arn("logs", f"log-group:{names.log_group}")
    statements: list[dict[str, Any]] = [{
        "Sid": "Logs", "Effect": "Allow",
        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": [group, f"{group}:*"],
    }]
    if queue_arns:
        statements.append({"Sid": "Queues", "Effect": "Allow", "Action": SQS_ACTIONS,
                           "Resource": sorted(set(queue_arns))})
    if stream_arns:
        statements.append({"Sid": "Streams", "Effect": "Allow", "Action": KINESIS_ACTIONS,
                           "Resource": sorted(set(stream_arns))})
    by_action: dict[str, set[str]] = {}
    for ref in fn.secrets.values():
        action, resource = secret_resource(aws, ref)
        by_action.setdefault(action, set()).add(resource)
    for action, resources in sorted(by_action.items()):
        sid = "Parameters" if action.startswith("ssm") else "Secrets"
        statements.append({"Sid": sid, "Effect": "Allow", "Action": [action], "Resource": sorted(resources)})
    return {"Version": "2012-10-17", "Statement": statements}


def invoke_policy(function_arns: list[str]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "Invoke", "Effect": "Allow", "Action": ["lambda:InvokeFunction"], "Resource": function_arns}]}


def _canonical(doc: Any) -> str:
    if isinstance(doc, str):
        from urllib.parse import unquote

        doc = json.loads(unquote(doc))
    return json.dumps(doc, sort_keys=True)


def ensure_role(run: Run, name: str, trust: dict[str, Any], policy_name: str, policy: dict[str, Any],
                tags: dict[str, str], record: Record | None = None, kind: str = "role") -> str:
    """Create or converge one role with one inline policy; return its ARN."""
    iam = run.aws.client("iam")
    arn = run.aws.arn("iam", f"role/{name}", region=False)
    current: dict[str, dict[str, object]] = {}
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except Exception as exc:
        if not is_not_found(exc):
            raise
        role = None
    if role is not None:
        arn = str(role["Arn"])
        current_tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=name).get("Tags", [])}
        current["role"] = {"trust policy": _canonical(role["AssumeRolePolicyDocument"]),
                           "tags": {k: current_tags.get(k) for k in tags}}
        try:
            document = iam.get_role_policy(RoleName=name, PolicyName=policy_name)["PolicyDocument"]
            current["policy"] = {"statements": _canonical(document)}
        except Exception as exc:
            if not is_not_found(exc):
                raise
    want: dict[str, dict[str, object]] = {"role": {"trust policy": _canonical(trust), "tags": dict(tags)},
                                          "policy": {"statements": _canonical(policy)}}
    drift = check(record, kind, current, want)
    inline = f"inline policy {policy_name}"
    put_policy = dict(RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(policy))
    if role is None:
        run.write("create", f"iam role {name}", "iam:CreateRole", dict(
            RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), Description="managed by multicloud",
            Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())]), drift.label("role", "the role"))
        run.write("create", f"iam role policy {name}/{policy_name}", "iam:PutRolePolicy", put_policy,
                  drift.label("policy", inline))
        return arn
    if current["role"]["trust policy"] != want["role"]["trust policy"]:
        run.write("update", f"iam role {name}", "iam:UpdateAssumeRolePolicy", dict(
            RoleName=name, PolicyDocument=json.dumps(trust)), drift.label("role", "the role", "trust policy"))
    missing = {k: v for k, v in tags.items() if current_tags.get(k) != v}
    if missing:
        run.write("update", f"iam role {name}", "iam:TagRole", dict(
            RoleName=name, Tags=[{"Key": k, "Value": v} for k, v in sorted(missing.items())]),
            drift.label("role", "the role", "tags"))
    if current.get("policy") != want["policy"]:
        run.write("update" if "policy" in current else "create", f"iam role policy {name}/{policy_name}",
                  "iam:PutRolePolicy", put_policy, drift.label("policy", inline))
    else:
        run.noop(f"iam role {name}")
    return arn


def delete_role(run: Run, name: str) -> bool:
    iam = run.aws.client("iam")
    try:
        names = iam.list_role_policies(RoleName=name)["PolicyNames"]
    except Exception as exc:
        if is_not_found(exc):
            return False
        raise
    for policy in names:
        run.write("delete", f"iam role policy {name}/{policy}", "iam:DeleteRolePolicy",
                  dict(RoleName=name, PolicyName=policy))
    run.write("delete", f"iam role {name}", "iam:DeleteRole", dict(RoleName=name))
    return True
