"""Least-privilege execution roles: logs for the function's own group, read on exactly its queues and
streams, read on exactly the secrets it references. Nothing for http, schedule or storage triggers (those
are granted on the function's resource policy instead). Schedules get their own role for Scheduler.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from multicloud.project import ResolvedFunction

from .clients import Aws
from .context import Run, is_not_found
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
                tags: dict[str, str]) -> str:
    """Create or converge one role with one inline policy; return its ARN."""
    iam = run.aws.client("iam")
    arn = run.aws.arn("iam", f"role/{name}", region=False)
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except Exception as exc:
        if not is_not_found(exc):
            raise
        run.write("create", f"iam role {name}", lambda: iam.create_role(
            RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), Description="managed by multicloud",
            Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())]))
        run.write("create", f"iam role policy {name}/{policy_name}", lambda: iam.put_role_policy(
            RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(policy)))
        return arn
    arn = str(role["Arn"])
    if _canonical(role["AssumeRolePolicyDocument"]) != _canonical(trust):
        run.write("update", f"iam role {name}", lambda: iam.update_assume_role_policy(
            RoleName=name, PolicyDocument=json.dumps(trust)), "trust policy")
    current_tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=name).get("Tags", [])}
    missing = {k: v for k, v in tags.items() if current_tags.get(k) != v}
    if missing:
        run.write("update", f"iam role {name}", lambda: iam.tag_role(
            RoleName=name, Tags=[{"Key": k, "Value": v} for k, v in sorted(missing.items())]), "tags")
    try:
        current = _canonical(iam.get_role_policy(RoleName=name, PolicyName=policy_name)["PolicyDocument"])
    except Exception as exc:
        if not is_not_found(exc):
            raise
        current = ""
    if current != _canonical(policy):
        run.write("update" if current else "create", f"iam role policy {name}/{policy_name}",
                  lambda: iam.put_role_policy(RoleName=name, PolicyName=policy_name,
                                              PolicyDocument=json.dumps(policy)))
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
        run.write("delete", f"iam role policy {name}/{policy}",
                  partial(iam.delete_role_policy, RoleName=name, PolicyName=policy))
    run.write("delete", f"iam role {name}", lambda: iam.delete_role(RoleName=name))
    return True
