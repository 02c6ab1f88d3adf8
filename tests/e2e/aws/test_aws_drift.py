"""Drift on moto: a change made by hand (here with boto3, for a user in the console or the AWS CLI) to
anything a deploy made shows in `plan` as `drift: ... outside multicloud`; plan makes no write call; the
next deploy repairs it and the plan after that is all noop. A first deploy and a change of the spec are
plain creates and updates, never drift."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_e2e_support import ALL_TRIGGERS, CallLog, build, make_sources, provider, write_service

from multicloud.provider import Change

pytestmark = pytest.mark.moto

NAME = "shop-test-hello"
ALIAS_ARN = f"arn:aws:lambda:us-east-1:123456789012:function:{NAME}:live"
POLICY = f"iam role policy {NAME}/multicloud-execution"
STATEMENT_DELETED = "drift: the statement was deleted outside multicloud"
URL_DELETED = "drift: https://*.lambda-url.us-east-1.on.aws* was deleted outside multicloud"  # the old address


def plan(root: Path) -> list[Change]:
    """`plan` through a fresh provider, checking that it only reads."""
    p = provider(root)
    log = CallLog(p)
    changes = list(p.plan(build(p)).changes)
    assert log.calls and log.writes == [], log.writes
    return changes


def deploy(root: Path) -> None:
    p = provider(root)
    p.deploy(build(p))


def drifted(changes: list[Change]) -> dict[tuple[str, str], str]:
    return {(c.action, c.resource): c.detail for c in changes if c.detail.startswith("drift: ")}


def assert_repaired(root: Path) -> None:
    deploy(root)
    changes = plan(root)
    assert [c for c in changes if c.action != "noop"] == []


# ---- changes made by hand --------------------------------------------------------------------------
def _delete_role(name: str) -> None:
    iam = boto3.client("iam")
    iam.delete_role_policy(RoleName=name, PolicyName="multicloud-execution")
    iam.delete_role(RoleName=name)


def _mapping(source: str) -> str:
    mappings = boto3.client("lambda").list_event_source_mappings(FunctionName=ALIAS_ARN)["EventSourceMappings"]
    return str(next(m["UUID"] for m in mappings if m["EventSourceArn"].endswith(source)))


def _edit_schedule(name: str, **changes: Any) -> None:
    sched = boto3.client("scheduler")
    cur = sched.get_schedule(Name=name)
    args = {k: cur[k] for k in ("Name", "ScheduleExpression", "ScheduleExpressionTimezone", "FlexibleTimeWindow",
                                "State", "Description")}
    args["Target"] = {k: cur["Target"][k] for k in ("Arn", "RoleArn", "Input")}
    sched.update_schedule(**(args | changes))


def _remove_our_notification() -> None:
    s3 = boto3.client("s3")
    config = s3.get_bucket_notification_configuration(Bucket="uploads")
    s3.put_bucket_notification_configuration(Bucket="uploads", NotificationConfiguration={
        "QueueConfigurations": config["QueueConfigurations"]})  # somebody else's stays


def _add_schedule() -> None:
    cur = boto3.client("scheduler").get_schedule(Name=f"{NAME}-0")
    boto3.client("scheduler").create_schedule(
        Name=f"{NAME}-7", ScheduleExpression="rate(1 minute)", FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": ALIAS_ARN, "RoleArn": cur["Target"]["RoleArn"]})


def _lambda() -> Any:
    return boto3.client("lambda")


# name: (change made by hand, {(action, resource): detail pattern} of every drift line the plan shows)
CASES: dict[str, tuple[Callable[[], object], dict[tuple[str, str], str]]] = {
    "execution role deleted": (lambda: _delete_role(NAME), {
        ("create", f"iam role {NAME}"): "drift: the role was deleted outside multicloud",
        ("create", POLICY): "drift: inline policy multicloud-execution was deleted outside multicloud"}),
    "scheduler role deleted": (lambda: _delete_role(f"{NAME}-scheduler"), {
        ("create", f"iam role {NAME}-scheduler"): "drift: the role was deleted outside multicloud",
        ("create", f"iam role policy {NAME}-scheduler/multicloud-execution"):
            "drift: inline policy multicloud-execution was deleted outside multicloud"}),
    "inline policy edited": (lambda: boto3.client("iam").put_role_policy(
        RoleName=NAME, PolicyName="multicloud-execution", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})), {
        ("update", POLICY): "drift: statements of inline policy multicloud-execution changed outside multicloud"}),
    "inline policy removed": (lambda: boto3.client("iam").delete_role_policy(
        RoleName=NAME, PolicyName="multicloud-execution"), {
        ("create", POLICY): "drift: inline policy multicloud-execution was deleted outside multicloud"}),
    "sqs mapping deleted": (lambda: _lambda().delete_event_source_mapping(UUID=_mapping("orders")), {
        ("create", f"lambda event source mapping {NAME} <- orders"):
            "drift: the mapping was deleted outside multicloud"}),
    "sqs mapping disabled": (lambda: _lambda().update_event_source_mapping(UUID=_mapping("orders"), Enabled=False), {
        ("update", f"lambda event source mapping {NAME} <- orders"):
            "drift: state of the mapping changed outside multicloud"}),
    "kinesis batch size changed": (lambda: _lambda().update_event_source_mapping(
        UUID=_mapping("clicks"), BatchSize=10), {
        ("update", f"lambda event source mapping {NAME} <- stream/clicks"):
            "drift: batch size of the mapping changed outside multicloud"}),
    "schedule deleted": (lambda: boto3.client("scheduler").delete_schedule(Name=f"{NAME}-0"), {
        ("create", f"scheduler schedule {NAME}-0"): "drift: the schedule was deleted outside multicloud"}),
    "schedule expression changed": (lambda: _edit_schedule(f"{NAME}-1", ScheduleExpression="rate(1 hour)"), {
        ("update", f"scheduler schedule {NAME}-1"): "drift: expression of the schedule changed outside multicloud"}),
    "schedule disabled": (lambda: _edit_schedule(f"{NAME}-0", State="DISABLED"), {
        ("update", f"scheduler schedule {NAME}-0"): "drift: state of the schedule changed outside multicloud"}),
    "schedule added": (_add_schedule, {
        ("delete", f"scheduler schedule {NAME}-7"): "drift: the schedule was added outside multicloud"}),
    "s3 notification removed": (_remove_our_notification, {
        ("update", f"s3 notification uploads -> {NAME}"): "drift: the notification was deleted outside multicloud"}),
    "permission removed": (lambda: _lambda().remove_permission(
        FunctionName=NAME, Qualifier="live", StatementId="multicloud-s3-uploads"), {
        ("create", f"lambda permission {NAME}:multicloud-s3-uploads"):
            STATEMENT_DELETED}),
    "function url deleted": (lambda: _lambda().delete_function_url_config(FunctionName=NAME, Qualifier="live"), {
        ("create", f"lambda function url {NAME}:live"): URL_DELETED}),
    "function deleted": (lambda: _lambda().delete_function(FunctionName=NAME), {  # known from the state cache
        ("create", f"lambda function {NAME}"): "drift: the function was deleted outside multicloud",
        ("create", f"lambda function url {NAME}:live"): URL_DELETED,
        **{("create", f"lambda permission {NAME}:multicloud-{sid}"): STATEMENT_DELETED
           for sid in ("url", "url-invoke", "s3-uploads")}}),
    "environment of $LATEST changed": (lambda: _lambda().update_function_configuration(
        FunctionName=NAME, Environment={"Variables": {"MODE": "hacked"}}), {
        ("update", f"lambda function {NAME}"): "drift: environment of $LATEST changed outside multicloud"}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_change_made_by_hand_is_drift_and_deploy_repairs_it(moto: str, tmp_path: Path, case: str) -> None:
    make_sources()
    root = write_service(tmp_path / "svc", triggers=ALL_TRIGGERS)
    deploy(root)
    change, expected = CASES[case]
    change()
    found = drifted(plan(root))
    assert set(found) == set(expected), found
    for key, pattern in expected.items():
        assert fnmatchcase(found[key], pattern), (found[key], pattern)
    assert_repaired(root)


def test_first_deploy_and_spec_changes_are_plain_even_beside_drift(moto: str, tmp_path: Path) -> None:
    make_sources()
    root = write_service(tmp_path / "svc", triggers=ALL_TRIGGERS)
    first = plan(root)
    assert drifted(first) == {}
    # all created; the bucket exists, so its configuration is updated (merged with somebody else's); the
    # drift record of what was made is the last step, a write of its own (the function's tags)
    assert {c.resource for c in first if c.action != "create" and not c.detail.startswith("tags: drift record")} \
        == {f"s3 notification uploads -> {NAME}", "sqs redrive policy orders -> orders-dlq"}
    deploy(root)
    changed = (ALL_TRIGGERS.replace("batch_size: 5}", "batch_size: 7}").replace("rate: 5m", "rate: 10m")
               .replace("suffix: .json", "suffix: .csv") + "- queue: {name: audit}\n")
    write_service(root, triggers=changed)
    changes = plan(root)
    assert drifted(changes) == {}
    spec_changes = {("update", f"lambda event source mapping {NAME} <- orders"),
                    ("create", f"lambda event source mapping {NAME} <- audit"),
                    ("update", f"scheduler schedule {NAME}-0"), ("update", f"s3 notification uploads -> {NAME}"),
                    ("update", POLICY)}
    assert {(c.action, c.resource) for c in changes if c.action != "noop"} >= spec_changes
    # a change made by hand beside them, on a resource of the same kinds: only that one is drift
    _lambda().update_event_source_mapping(UUID=_mapping("clicks"), Enabled=False)
    changes = plan(root)
    assert drifted(changes) == {("update", f"lambda event source mapping {NAME} <- stream/clicks"):
                                "drift: state of the mapping changed outside multicloud"}
    assert {(c.action, c.resource) for c in changes if c.action != "noop"} >= spec_changes
    assert_repaired(root)


def test_live_alias_moved_by_hand_goes_back_to_the_deployed_version(moto: str, tmp_path: Path) -> None:
    root = write_service(tmp_path / "svc")
    deploy(root)
    write_service(root, greeting="hi")
    deploy(root)
    lam = boto3.client("lambda")
    lam.update_alias(FunctionName=NAME, Name="live", FunctionVersion="1")
    assert drifted(plan(root)) == {("update", f"lambda alias {NAME}:live"):
                                   "drift: live was pointed to version 1 outside multicloud: back to version 2"}
    assert_repaired(root)
    assert lam.get_alias(FunctionName=NAME, Name="live")["FunctionVersion"] == "2"
    versions = lam.list_versions_by_function(FunctionName=NAME)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2"]  # repaired without publishing again


def test_http_api_deleted_by_hand_is_made_again_with_its_permission(moto: str, tmp_path: Path) -> None:
    root = write_service(tmp_path / "svc")
    spec = (root / "multicloud.yaml").read_text().replace("    stage: test\n", "    stage: test\n    http: http_api\n")
    (root / "multicloud.yaml").write_text(spec)
    deploy(root)
    apis = boto3.client("apigatewayv2")
    apis.delete_api(ApiId=apis.get_apis()["Items"][0]["ApiId"])
    changes = plan(root)
    assert drifted(changes) == {("create", f"apigateway http api {NAME}"):
                                "drift: the HTTP API was deleted outside multicloud"}
    assert ("update", f"lambda permission {NAME}:multicloud-http-api") in {(c.action, c.resource) for c in changes}
    assert_repaired(root)
    (api,) = apis.get_apis()["Items"]
    policy = json.loads(boto3.client("lambda").get_policy(FunctionName=NAME, Qualifier="live")["Policy"])
    assert f":{api['ApiId']}/*" in json.dumps(policy["Statement"])  # the new API may invoke the alias


def test_drift_is_read_back_from_aws_without_the_local_state(moto: str, tmp_path: Path) -> None:
    make_sources()
    root = write_service(tmp_path / "svc", triggers="- queue: {name: orders, batch_size: 5}\n")
    deploy(root)
    (root / ".multicloud" / "state" / "aws.json").unlink()  # another machine: no local cache
    boto3.client("lambda").update_event_source_mapping(UUID=_mapping("orders"), Enabled=False)
    assert drifted(plan(root)) == {("update", f"lambda event source mapping {NAME} <- orders"):
                                   "drift: state of the mapping changed outside multicloud"}
    assert_repaired(root)


def test_deployment_made_before_records_gets_one_without_claiming_drift(moto: str, tmp_path: Path) -> None:
    make_sources()
    root = write_service(tmp_path / "svc", triggers="- queue: {name: orders, batch_size: 5}\n")
    deploy(root)
    lam = boto3.client("lambda")
    arn = lam.get_function(FunctionName=NAME)["Configuration"]["FunctionArn"]
    lam.untag_resource(Resource=arn, TagKeys=["multicloud:fingerprints"])  # as an older multicloud left it
    (root / ".multicloud" / "state" / "aws.json").unlink()
    assert [(c.action, c.resource, c.detail) for c in plan(root) if c.action != "noop"] == [
        ("update", f"lambda function {NAME}", "tags: drift record")]
    lam.update_event_source_mapping(UUID=_mapping("orders"), Enabled=False)
    changes = plan(root)
    assert drifted(changes) == {}  # no record: a plain update, never a guess
    assert ("update", f"lambda event source mapping {NAME} <- orders") in {(c.action, c.resource) for c in changes}
    assert_repaired(root)
    assert "multicloud:fingerprints" in lam.list_tags(Resource=arn)["Tags"]


def test_cli_plan_prints_the_drift_line(moto: str, tmp_path: Path) -> None:
    make_sources()
    root = write_service(tmp_path / "svc", triggers="- schedule: {rate: 5m}\n")
    deploy(root)
    _edit_schedule(f"{NAME}-0", State="DISABLED")
    exe = Path(sys.executable).with_name("multicloud")
    out = subprocess.run([str(exe), "plan", "-t", "aws"], cwd=root, capture_output=True, text=True,
                         env=dict(os.environ), timeout=300)
    assert out.returncode == 0, out.stderr + out.stdout
    line = f"update scheduler schedule {NAME}-0  (drift: state of the schedule changed outside multicloud)"
    assert line in out.stdout, out.stdout
