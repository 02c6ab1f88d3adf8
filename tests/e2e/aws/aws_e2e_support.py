"""Shared helpers for the AWS e2e tests: a sample service, the queue, stream and bucket its triggers name,
a provider per spec folder, and a botocore-level call counter. (A uniquely named module: several test
folders have a conftest.py.)"""

from __future__ import annotations

import textwrap
from pathlib import Path

import boto3

from multicloud.project import Project
from multicloud.provider import BuildResult
from multicloud.providers.aws import AwsProvider
from multicloud.state import build_dir

READ_PREFIXES = ("Get", "List", "Describe", "Head")
ALL_TRIGGERS = """\
- http: {path: /hello, methods: [GET]}
- queue: {name: orders, batch_size: 5}
- stream: {name: clicks, batch_size: 50, starting_position: trim_horizon}
- storage: {bucket: uploads, prefix: in/, suffix: .json}
- schedule: {rate: 5m}
- schedule: {cron: "0 12 * * 1-5"}
"""


def provider(root: Path) -> AwsProvider:
    return AwsProvider(Project.load(root))


def build(p: AwsProvider) -> BuildResult:
    return p.build(build_dir(p.project, "aws"))


class CallLog:
    """Every API call the provider's boto3 session makes, seen through botocore's `before-call` event.
    Create it before the provider makes its first client: a client copies the session's hooks when made."""

    def __init__(self, p: AwsProvider) -> None:
        self.calls: list[str] = []
        p.aws.session.events.register("before-call.*.*", self._hook)

    def _hook(self, model: object, **_: object) -> None:
        service = model.service_model.service_name  # type: ignore[attr-defined]
        self.calls.append(f"{service}:{model.name}")  # type: ignore[attr-defined]

    @property
    def writes(self) -> list[str]:
        return [c for c in self.calls if not c.split(":", 1)[1].startswith(READ_PREFIXES)]


APP = '''
import hashlib
import json
import os

from multicloud import Response


def hello(event, context):
    if event.kind == "http":
        name = event.http.query.get("name", ["world"])[0]
        return Response(200, {"content-type": "text/plain"}, f"{GREETING} {name}")
    if event.kind in ("queue", "stream"):
        for m in event.messages:
            print("got message", m.id, m.body.decode())
        return None
    if event.kind == "storage":
        print("got object", event.storage.bucket, event.storage.key)
        return None
    # secrets: report only a digest of each, never the value
    digests = {k: hashlib.sha256(os.environ[k].encode()).hexdigest() for k in ("API_KEY", "DB_PASSWORD")
               if k in os.environ}
    return {"kind": event.kind, "type": event.type, "secrets": digests}


GREETING = "hello"
'''


def write_service(root: Path, *, greeting: str = "hello", memory: int = 256, triggers: str | None = None,
                  extra: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "app.py").write_text(APP.replace('GREETING = "hello"', f"GREETING = {greeting!r}"))
    trig = triggers if triggers is not None else textwrap.dedent("""\
        - http: {path: /hello, methods: [GET]}
    """)
    spec = f"""\
service: shop
runtime: python3.11
functions:
  hello:
    handler: app.hello
    memory: {memory}
    timeout: 10
    env:
      MODE: test
    triggers:
{textwrap.indent(trig, '      ')}{extra}targets:
  aws:
    stage: test
    tags:
      team: core
"""
    (root / "multicloud.yaml").write_text(spec)
    return root


def make_sources() -> dict[str, str]:
    sqs, kinesis, s3 = boto3.client("sqs"), boto3.client("kinesis"), boto3.client("s3")
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    other = sqs.create_queue(QueueName="audit")["QueueUrl"]
    kinesis.create_stream(StreamName="clicks", ShardCount=1)
    s3.create_bucket(Bucket="uploads")
    audit_arn = sqs.get_queue_attributes(QueueUrl=other, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    # a notification somebody else owns: deploy must merge with it, remove must keep it
    s3.put_bucket_notification_configuration(Bucket="uploads", NotificationConfiguration={
        "QueueConfigurations": [{"Id": "audit", "QueueArn": audit_arn, "Events": ["s3:ObjectRemoved:*"]}]})
    return {
        "queue": sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"],
        "stream": kinesis.describe_stream_summary(StreamName="clicks")["StreamDescriptionSummary"]["StreamARN"],
        "audit": audit_arn,
    }
