"""Deploy against moto's server: every trigger kind wired, least privilege, and an unchanged redeploy
that makes zero write calls (counted through botocore's event hooks)."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from aws_e2e_support import ALL_TRIGGERS, CallLog, build, make_sources, provider, write_service

from multicloud.errors import OperationError

pytestmark = pytest.mark.moto

SECRETS = """\
    secrets:
      API_KEY: ssm:/shop/api-key
      DB_PASSWORD: secretsmanager:shop/db
"""


def test_deploy_wires_every_trigger_then_redeploy_makes_no_write(moto: str, tmp_path: Path) -> None:
    arns = make_sources()
    root = write_service(tmp_path / "svc", triggers=ALL_TRIGGERS, extra=SECRETS)
    p = provider(root)
    artifact = build(p)
    first = p.deploy(artifact)
    assert first.changed and first.details["hello.version"] == "1"
    assert first.endpoints and first.endpoints[0].url.startswith("https://")

    lam, iam = boto3.client("lambda"), boto3.client("iam")
    conf = lam.get_function_configuration(FunctionName="shop-test-hello", Qualifier="live")
    assert conf["Handler"] == "_multicloud_entry.hello" and conf["Runtime"] == "python3.11"
    assert conf["MemorySize"] == 256 and conf["Timeout"] == 10
    env = conf["Environment"]["Variables"]
    assert env["MODE"] == "test"
    assert json.loads(env["MULTICLOUD_SECRETS"]) == {"API_KEY": "ssm:/shop/api-key",
                                                      "DB_PASSWORD": "secretsmanager:shop/db"}
    tags = lam.list_tags(Resource=conf["FunctionArn"].rsplit(":", 1)[0])["Tags"]
    assert tags["multicloud:managed-by"] == "multicloud" and tags["team"] == "core"
    assert lam.get_function_url_config(FunctionName="shop-test-hello", Qualifier="live")["AuthType"] == "NONE"

    # least privilege: logs of its own group, exactly its queue and stream, exactly its secrets
    policy = iam.get_role_policy(RoleName="shop-test-hello", PolicyName="multicloud-execution")["PolicyDocument"]
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert set(by_sid) == {"Logs", "Queues", "Streams", "Parameters", "Secrets"}
    assert by_sid["Queues"]["Resource"] == [arns["queue"]]
    assert by_sid["Streams"]["Resource"] == [arns["stream"]]
    assert by_sid["Parameters"]["Resource"] == ["arn:aws:ssm:us-east-1:123456789012:parameter/shop/api-key"]
    assert by_sid["Secrets"]["Resource"] == ["arn:aws:secretsmanager:us-east-1:123456789012:secret:shop/db-??????"]
    assert all("*" not in a for s in policy["Statement"] for a in s["Action"])

    alias_arn = "arn:aws:lambda:us-east-1:123456789012:function:shop-test-hello:live"
    mappings = lam.list_event_source_mappings(FunctionName=alias_arn)["EventSourceMappings"]
    by_source = {m["EventSourceArn"]: m for m in mappings}
    assert set(by_source) == {arns["queue"], arns["stream"]}
    assert by_source[arns["queue"]]["BatchSize"] == 5
    assert all(m["FunctionResponseTypes"] == ["ReportBatchItemFailures"] for m in mappings)

    notif = boto3.client("s3").get_bucket_notification_configuration(Bucket="uploads")
    assert [q["Id"] for q in notif["QueueConfigurations"]] == ["audit"]  # merged, not replaced
    (ours,) = notif["LambdaFunctionConfigurations"]
    assert ours["LambdaFunctionArn"] == alias_arn and ours["Events"] == ["s3:ObjectCreated:*"]

    sched = boto3.client("scheduler")
    names = sorted(s["Name"] for s in sched.list_schedules()["Schedules"])
    assert names == ["shop-test-hello-0", "shop-test-hello-1"]
    assert sched.get_schedule(Name="shop-test-hello-0")["ScheduleExpression"] == "rate(5 minutes)"
    cron = sched.get_schedule(Name="shop-test-hello-1")
    assert cron["ScheduleExpression"] == "cron(0 12 ? * 2-6 *)"
    assert cron["Target"]["Arn"] == alias_arn and cron["Target"]["RoleArn"].endswith("shop-test-hello-scheduler")

    # redeploy from a fresh provider (no in-memory cache): reads only. The same build is reused so that a
    # colleague editing the vendored runtime in this checkout cannot change the zip between the two deploys
    # (build reuse itself is tested in tests/functional/aws).
    again = provider(root)
    log = CallLog(again)
    result = again.deploy(artifact)
    assert log.calls, "the hook saw no call at all"
    assert log.writes == [] and not result.changed
    assert [c for c in again.plan(artifact).changes if c.action != "noop"] == []

    # remove: everything multicloud made, nothing else
    provider(root).remove()
    assert lam.list_functions()["Functions"] == [] and iam.list_roles()["Roles"] == []
    assert lam.list_event_source_mappings()["EventSourceMappings"] == []
    assert sched.list_schedules()["Schedules"] == []
    notif = boto3.client("s3").get_bucket_notification_configuration(Bucket="uploads")
    assert [q["Id"] for q in notif["QueueConfigurations"]] == ["audit"] and "LambdaFunctionConfigurations" not in notif
    assert boto3.client("kinesis").describe_stream_summary(StreamName="clicks")
    assert len(boto3.client("sqs").list_queues()["QueueUrls"]) == 2


def test_plan_lists_changes_without_making_them(moto: str, tmp_path: Path) -> None:
    root = write_service(tmp_path / "svc")
    p = provider(root)
    log = CallLog(p)
    plan = p.plan(build(p))
    assert log.writes == []
    assert {c.resource for c in plan.changes if c.action == "create"} >= {
        "iam role shop-test-hello", "lambda function shop-test-hello", "lambda alias shop-test-hello:live",
        "lambda function url shop-test-hello:live"}
    p.deploy(build(p))
    write_service(root, memory=512)
    p2 = provider(root)
    changes = {(c.action, c.resource) for c in p2.plan(build(p2)).changes}
    assert ("update", "lambda function shop-test-hello") in changes
    assert boto3.client("lambda").get_function_configuration(FunctionName="shop-test-hello")["MemorySize"] == 256


def test_missing_queue_is_a_clear_error_before_any_write(moto: str, tmp_path: Path) -> None:
    root = write_service(tmp_path / "svc", triggers="- queue: {name: nowhere}\n")
    p = provider(root)
    log = CallLog(p)
    with pytest.raises(OperationError) as err:
        p.deploy(build(p))
    assert "nowhere" in err.value.what and "does not exist" in err.value.what
    assert err.value.fix and "create the SQS queue" in err.value.fix
    assert log.writes == []


def test_http_api_instead_of_function_url(moto: str, tmp_path: Path) -> None:
    root = write_service(tmp_path / "svc")
    spec = (root / "multicloud.yaml").read_text().replace("    stage: test\n", "    stage: test\n    http: http_api\n")
    (root / "multicloud.yaml").write_text(spec)
    p = provider(root)
    artifact = build(p)
    result = p.deploy(artifact)
    (api,) = boto3.client("apigatewayv2").get_apis()["Items"]
    assert api["Name"] == "shop-test-hello" and api["ProtocolType"] == "HTTP"
    assert result.endpoints[0].url == api["ApiEndpoint"]
    policy = json.loads(boto3.client("lambda").get_policy(FunctionName="shop-test-hello", Qualifier="live")["Policy"])
    (stmt,) = policy["Statement"]
    assert stmt["Sid"] == "multicloud-http-api" and api["ApiId"] in json.dumps(stmt)
    with pytest.raises(Exception) as missing:
        boto3.client("lambda").get_function_url_config(FunctionName="shop-test-hello", Qualifier="live")
    assert "ResourceNotFound" in str(missing.value)
    again = provider(root)
    log = CallLog(again)
    assert not again.deploy(artifact).changed and log.writes == []
    removed = provider(root).remove()
    assert "apigateway http api shop-test-hello" in removed.removed
    assert boto3.client("apigatewayv2").get_apis()["Items"] == []


@pytest.mark.parametrize(("operation", "status", "code", "fix_words"), [
    ("lambda.UpdateFunctionConfiguration", 429, "TooManyRequestsException", "wait a minute"),
    ("iam.PutRolePolicy", 403, "AccessDenied", "grant that identity"),
    ("lambda.UpdateAlias", 409, "ResourceConflictException", "deploy again"),
])
def test_aws_errors_become_clear_operation_errors(moto: str, tmp_path: Path, operation: str, status: int,
                                                 code: str, fix_words: str) -> None:
    from botocore.awsrequest import AWSResponse

    root = write_service(tmp_path / "svc", triggers="- queue: {name: orders}\n")
    boto3.client("sqs").create_queue(QueueName="orders")
    p = provider(root)
    p.deploy(build(p))
    boto3.client("sqs").create_queue(QueueName="more")  # the update changes code, config and the policy
    write_service(root, greeting="new", memory=512, triggers="- queue: {name: orders}\n- queue: {name: more}\n")
    p2 = provider(root)

    def refuse(**_: object) -> tuple[AWSResponse, dict[str, object]]:
        # the answer AWS gives, returned in place of sending the request
        return AWSResponse("https://aws", status, {}, None), {
            "Error": {"Code": code, "Message": "refused by the test"}, "ResponseMetadata": {"HTTPStatusCode": status}}

    p2.aws.session.events.register(f"before-call.{operation}", refuse)
    with pytest.raises(OperationError) as err:
        p2.deploy(build(p2))
    assert code in err.value.what and operation.split(".")[1] in err.value.what
    assert fix_words in (err.value.fix or "")
    assert err.value.__cause__ is not None  # raise ... from exc
    live = boto3.client("lambda").get_alias(FunctionName="shop-test-hello", Name="live")
    assert live["FunctionVersion"] == "1"


@pytest.mark.slow
def test_package_over_50_mb_goes_through_the_artifact_bucket_once(moto: str, tmp_path: Path) -> None:
    import os

    boto3.client("s3").create_bucket(Bucket="shop-artifacts")
    root = write_service(tmp_path / "svc")
    (root / "model.bin").write_bytes(os.urandom(51 * 1024 * 1024))  # random bytes: the zip stays over 50 MB
    spec = (root / "multicloud.yaml").read_text().replace("    stage: test\n",
                                                          "    stage: test\n    artifact_bucket: shop-artifacts\n")
    (root / "multicloud.yaml").write_text(spec)
    p = provider(root)
    artifact = build(p)
    assert artifact.artifacts[0].size > 50 * 1024 * 1024
    log = CallLog(p)
    p.deploy(artifact)
    assert "s3:PutObject" in log.calls or "s3:CreateMultipartUpload" in log.calls
    (obj,) = boto3.client("s3").list_objects_v2(Bucket="shop-artifacts")["Contents"]
    assert obj["Key"] == f"multicloud/shop/test/{artifact.digest}.zip"
    conf = boto3.client("lambda").get_function_configuration(FunctionName="shop-test-hello", Qualifier="live")
    assert conf["CodeSize"] == artifact.artifacts[0].size
    # same package again with a config change: no second upload
    write_service(root, memory=512)
    (root / "multicloud.yaml").write_text((root / "multicloud.yaml").read_text().replace(
        "    stage: test\n", "    stage: test\n    artifact_bucket: shop-artifacts\n"))
    again = provider(root)
    log2 = CallLog(again)
    again.deploy(artifact)
    assert not [c for c in log2.writes if c.startswith("s3:")]
    removed = provider(root).remove()
    assert any(r.startswith("s3 object s3://shop-artifacts/") for r in removed.removed)
    assert "Contents" not in boto3.client("s3").list_objects_v2(Bucket="shop-artifacts")


def test_functions_dropped_from_the_spec_are_removed_on_deploy(moto: str, tmp_path: Path) -> None:
    boto3.client("sqs").create_queue(QueueName="orders")
    root = write_service(tmp_path / "svc")
    spec = (root / "multicloud.yaml").read_text()
    two = spec.replace("targets:\n", "  bye:\n    handler: app.hello\n    triggers:\n"
                                     "      - queue: {name: orders}\n      - schedule: {rate: 1h}\ntargets:\n", 1)
    (root / "multicloud.yaml").write_text(two)
    p = provider(root)
    p.deploy(build(p))
    lam = boto3.client("lambda")
    assert sorted(f["FunctionName"] for f in lam.list_functions()["Functions"]) == ["shop-test-bye", "shop-test-hello"]

    (root / "multicloud.yaml").write_text(spec)
    p2 = provider(root)
    planned = {(c.action, c.resource) for c in p2.plan(build(p2)).changes}
    assert ("delete", "lambda function shop-test-bye") in planned
    assert lam.get_function(FunctionName="shop-test-bye")  # plan changed nothing
    p3 = provider(root)
    log = CallLog(p3)  # before p3 makes any client: clients copy the session's hooks when created
    p3.deploy(build(p3))
    assert [f["FunctionName"] for f in lam.list_functions()["Functions"]] == ["shop-test-hello"]
    assert lam.list_event_source_mappings()["EventSourceMappings"] == []
    assert boto3.client("scheduler").list_schedules()["Schedules"] == []
    assert sorted(r["RoleName"] for r in boto3.client("iam").list_roles()["Roles"]) == ["shop-test-hello"]
    # hello gets a new version only because the shared package's entry module no longer lists bye
    kept = [w for w in log.writes if not w.split(":")[1].startswith("Delete")]
    assert kept == ["lambda:UpdateFunctionCode", "lambda:PublishVersion", "lambda:UpdateAlias",
                    "sqs:SetQueueAttributes"], log.writes  # the last: orders' redrive policy, cleared
    assert [u.rsplit("/", 1)[1] for u in boto3.client("sqs").list_queues()["QueueUrls"]] == ["orders"]
    assert {"lambda:DeleteFunction", "lambda:DeleteEventSourceMapping", "scheduler:DeleteSchedule",
            "iam:DeleteRole"} <= set(log.writes)
