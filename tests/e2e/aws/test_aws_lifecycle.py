"""The whole life of a function on moto, with the uploaded zip really running in Docker: deploy, invoke,
update, rollback, a failed update that leaves the previous version serving, SQS and S3 delivery, remove."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest
from aws_e2e_support import CallLog, build, provider, write_service
from botocore.awsrequest import AWSResponse

from multicloud.errors import OperationError
from multicloud.provider import InvokeRequest

pytestmark = [pytest.mark.moto, pytest.mark.docker, pytest.mark.slow]

HELLO = InvokeRequest(function="hello", trigger="http", method="GET", query={"name": ["ann"]})


def greet(root: Path) -> str:
    result = provider(root).invoke(HELLO)
    assert result.ok, result.error
    assert result.status == 200
    return result.body.decode()


def test_deploy_invoke_update_rollback_remove(moto: str, lambda_images: None, tmp_path: Path) -> None:
    boto3.client("sqs").create_queue(QueueName="orders")
    root = write_service(tmp_path / "svc", triggers="- http: {path: /hello}\n- queue: {name: orders}\n")
    p = provider(root)
    since = datetime.now(timezone.utc) - timedelta(seconds=5)
    assert p.deploy(build(p)).details["hello.version"] == "1"
    assert greet(root) == "hello ann"
    direct = provider(root).invoke(InvokeRequest(function="hello", trigger="direct", body=b'{"x": 1}'))
    assert direct.ok and b'"kind": "direct"' in direct.body
    # generated native events for the other kinds run through the deployed zip too
    queue = provider(root).invoke(InvokeRequest(function="hello", trigger="queue", body=b'{"order": 7}'))
    assert queue.ok and json.loads(queue.body) == {"batchItemFailures": []}, queue.error
    for kind in ("schedule", "storage", "stream"):
        result = provider(root).invoke(InvokeRequest(function="hello", trigger=kind))  # type: ignore[arg-type]
        assert result.ok, (kind, result.error)
    # logs --follow: a live iterator that yields what the invocations printed
    follow = provider(root).logs("hello", since, True)
    seen = [next(follow).message for _ in range(3)]
    follow.close()
    assert any(line.startswith("START RequestId") for line in seen), seen

    write_service(root, greeting="hi", triggers="- http: {path: /hello}\n- queue: {name: orders}\n")
    p2 = provider(root)
    assert p2.deploy(build(p2)).details["hello.version"] == "2"
    assert greet(root) == "hi ann"

    back = provider(root).rollback()
    assert back.details == {"hello.version": "1", "hello.previous": "2"}
    assert greet(root) == "hello ann"
    status = provider(root).status()
    assert status.deployed and status.functions[0].version == "1" and status.functions[0].state == "active"

    removed = provider(root).remove()
    assert "lambda function shop-test-hello" in removed.removed and "iam role shop-test-hello" in removed.removed
    assert boto3.client("lambda").list_functions()["Functions"] == []
    assert [r["RoleName"] for r in boto3.client("iam").list_roles()["Roles"]] == []
    assert boto3.client("lambda").list_event_source_mappings()["EventSourceMappings"] == []
    assert boto3.client("sqs").get_queue_url(QueueName="orders")  # the user's queue stays
    assert provider(root).status().deployed is False


def test_failed_update_leaves_previous_version_serving(moto: str, lambda_images: None, tmp_path: Path) -> None:
    root = write_service(tmp_path / "svc")
    p = provider(root)
    p.deploy(build(p))
    write_service(root, greeting="broken")
    p2 = provider(root)

    def conflict(**_: object) -> tuple[AWSResponse, dict[str, object]]:
        # what Lambda answers while another update holds the function: HTTP 409
        error = {"Code": "ResourceConflictException", "Message": "The operation cannot be performed at this time."}
        return AWSResponse("https://lambda", 409, {}, None), {"Error": error,
                                                               "ResponseMetadata": {"HTTPStatusCode": 409}}

    p2.aws.session.events.register("before-call.lambda.PublishVersion", conflict)
    with pytest.raises(OperationError) as err:
        p2.deploy(build(p2))
    assert "ResourceConflictException" in err.value.what and "previous version keeps serving" in err.value.what
    assert err.value.fix and "deploy again" in err.value.fix
    assert greet(root) == "hello ann"  # live still points at version 1
    p3 = provider(root)
    assert p3.deploy(build(p3)).details["hello.version"] == "2"
    assert greet(root) == "broken ann"


def _wait_logs(root: Path, needle: str, timeout: float = 60) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        lines = [r.message for r in provider(root).logs("hello", None, False)]
        if any(needle in line for line in lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.5)


def test_sqs_send_s3_put_and_kinesis_put_reach_the_function(moto: str, lambda_images: None, tmp_path: Path
                                                           ) -> None:
    sqs, s3, kinesis = boto3.client("sqs"), boto3.client("s3"), boto3.client("kinesis")
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    s3.create_bucket(Bucket="uploads")
    kinesis.create_stream(StreamName="clicks", ShardCount=1)
    root = write_service(tmp_path / "svc", triggers="- queue: {name: orders}\n"
                                                    "- storage: {bucket: uploads, prefix: in/}\n"
                                                    "- stream: {name: clicks}\n")
    p = provider(root)
    log = CallLog(p)
    p.deploy(build(p))
    assert "lambda:CreateEventSourceMapping" in log.writes
    sqs.send_message(QueueUrl=url, MessageBody='{"order": 42}')
    lines = _wait_logs(root, "got message")
    assert any("got message" in line and "42" in line for line in lines), "\n".join(lines)
    s3.put_object(Bucket="uploads", Key="in/report.json", Body=b"{}")
    lines = _wait_logs(root, "got object")
    assert any("got object uploads in/report.json" in line for line in lines), lines
    kinesis.put_record(StreamName="clicks", Data=b'{"click": 99}', PartitionKey="p")
    lines = _wait_logs(root, "99")
    assert any("got message" in line and '{"click": 99}' in line for line in lines), "\n".join(lines)
    s3.put_object(Bucket="uploads", Key="out/skip.json", Body=b"{}")  # filtered out by the prefix
    assert not any("out/skip.json" in line for line in _wait_logs(root, "out/skip.json", timeout=2))
