"""Events on moto: `multicloud send` (SQS with message attributes, Kinesis with a partition key), the
dead-letter queue deploy makes (`<queue>-dlq`, redrive policy with maxReceiveCount = max_attempts),
`multicloud dead-letters` (list, --retry, --purge) and `Provider.pending`.

moto's event source mapping receives from the queue whenever a message arrives (not in a loop, as
Lambda's poller does), so the poison test drives the next receives by sending more messages; each
receive runs the uploaded zip in the Lambda emulation container."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import boto3
import pytest
from aws_e2e_support import CallLog, build, provider
from typer.testing import CliRunner

from multicloud.cli.app import app, hoist_global_options
from multicloud.client import Client
from multicloud.errors import UsageError
from multicloud.provider import Change

pytestmark = pytest.mark.moto

APP = '''
FIXED = False


def work(event, context):
    for m in event.messages:
        body = m.body.decode()
        if body == "poison" and not FIXED:
            print("attempt", body)
            raise ValueError("cannot handle poison")
        print("handled", body, json.dumps(m.attributes, sort_keys=True))
    return None


import json
'''


def write(root: Path, *, fixed: bool = False, attempts: int = 3, stream: bool = False) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "app.py").write_text(APP.replace("FIXED = False", f"FIXED = {fixed}"))
    extra = "      - stream: {name: clicks, starting_position: trim_horizon}\n" if stream else ""
    (root / "multicloud.yaml").write_text(textwrap.dedent(f"""\
        service: shop
        runtime: python3.11
        functions:
          work:
            handler: app.work
            timeout: 10
            triggers:
              - queue: {{name: jobs, max_attempts: {attempts}}}
        """) + extra + "targets:\n  aws: {stage: test}\n")
    return root


def cli(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, hoist_global_options(list(args)))
    return res.exit_code, res.output


def dlq_url() -> str:
    return str(boto3.client("sqs").get_queue_url(QueueName="jobs-dlq")["QueueUrl"])


def redrive() -> dict[str, object]:
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName="jobs")["QueueUrl"]
    text = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"]).get("Attributes", {}).get(
        "RedrivePolicy")
    return json.loads(text) if text else {}


def plan(root: Path) -> list[Change]:
    p = provider(root)
    log = CallLog(p)
    changes = list(p.plan(build(p)).changes)
    assert log.writes == [], log.writes
    return changes


def test_deploy_makes_the_dead_letter_queue_plan_sees_drift_remove_cleans_up(moto: str, tmp_path: Path) -> None:
    sqs = boto3.client("sqs")
    sqs.create_queue(QueueName="jobs")
    root = write(tmp_path / "svc", attempts=4)
    first = {(c.action, c.resource) for c in plan(root)}
    assert {("create", "sqs queue jobs-dlq"), ("update", "sqs redrive policy jobs -> jobs-dlq")} <= first
    p = provider(root)
    p.deploy(build(p))
    assert redrive() == {"deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:jobs-dlq", "maxReceiveCount": 4}
    tags = sqs.list_queue_tags(QueueUrl=dlq_url())["Tags"]
    assert tags["multicloud:service"] == "shop" and tags["multicloud:stage"] == "test"
    retention = sqs.get_queue_attributes(QueueUrl=dlq_url(), AttributeNames=["MessageRetentionPeriod"])
    assert retention["Attributes"]["MessageRetentionPeriod"] == "1209600"
    assert [c for c in plan(root) if c.action != "noop"] == []

    # by hand: the redrive policy edited, then the dead-letter queue deleted
    url = sqs.get_queue_url(QueueName="jobs")["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:jobs-dlq", "maxReceiveCount": 50})})
    details = {c.resource: c.detail for c in plan(root) if c.action != "noop"}
    assert details == {"sqs redrive policy jobs -> jobs-dlq":
                       "drift: max receive count of the redrive policy of jobs changed outside multicloud"}
    sqs.delete_queue(QueueUrl=dlq_url())
    details = {c.resource: c.detail for c in plan(root) if c.action != "noop"}
    assert details["sqs queue jobs-dlq"] == "drift: dead-letter queue jobs-dlq was deleted outside multicloud"
    p = provider(root)
    p.deploy(build(p))
    assert redrive()["maxReceiveCount"] == 4 and dlq_url()
    assert [c for c in plan(root) if c.action != "noop"] == []

    # a spec change is plain; dropping the queue trigger removes the dead-letter queue and the policy
    write(root, attempts=6)  # (and the function's drift record, re-stored as a step of its own)
    assert {c.resource: c.detail for c in plan(root) if c.action != "noop"} == {
        "sqs redrive policy jobs -> jobs-dlq": "max receive count 6",
        "lambda function shop-test-work": "tags: drift record of the changes above"}
    provider(root).remove()
    assert redrive() == {}
    assert [u.rsplit("/", 1)[1] for u in sqs.list_queues()["QueueUrls"]] == ["jobs"]  # the user's queue stays


def test_a_dead_letter_queue_of_that_name_that_is_not_ours_is_refused(moto: str, tmp_path: Path) -> None:
    sqs = boto3.client("sqs")
    sqs.create_queue(QueueName="jobs")
    sqs.create_queue(QueueName="jobs-dlq")  # somebody else's
    root = write(tmp_path / "svc")
    p = provider(root)
    log = CallLog(p)
    code, out = cli("deploy", str(root), "-t", "aws")
    assert code == 1 and "not this service's dead-letter queue" in out, out
    assert not [w for w in log.writes if w.startswith("lambda:")]


def test_two_functions_on_one_queue_must_agree_on_max_attempts(tmp_path: Path) -> None:
    root = write(tmp_path / "svc")
    spec = (root / "multicloud.yaml").read_text().replace("targets:", textwrap.dedent("""\
          also:
            handler: app.work
            triggers:
              - queue: {name: jobs, max_attempts: 7}
        targets:"""), 1)
    (root / "multicloud.yaml").write_text(spec)
    code, out = cli("validate", str(root), "-t", "aws")
    assert code == 2 and "different max_attempts (3, 7)" in out, out


def test_send_pending_and_dead_letters_on_sqs(moto: str, tmp_path: Path) -> None:
    """No function here: the queue and its dead-letter queue hold what the commands put there."""
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
    dlq = sqs.create_queue(QueueName="jobs-dlq")["QueueUrl"]
    root = write(tmp_path / "svc")
    code, out = cli("-o", "json", "send", str(root), "-t", "aws", "--queue", "jobs", "-d", '{"n": 1}',
                    "-a", "tenant=acme")
    assert code == 0, out
    sent = json.loads(out)
    assert sent["destination"] == url and sent["message_id"]
    got = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], VisibilityTimeout=30)["Messages"]
    assert got[0]["Body"] == '{"n": 1}' and got[0]["MessageAttributes"]["tenant"]["StringValue"] == "acme"
    assert provider(root).pending("jobs") == 1  # in flight counts
    cli("send", str(root), "-t", "aws", "--queue", "jobs", "-d", "two")
    assert provider(root).pending("jobs") == 2
    sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
    assert provider(root).pending("jobs") == 1
    code, out = cli("send", str(root), "-t", "aws", "--queue", "jobs", "--file", str(root / "multicloud.yaml"))
    assert code == 0 and provider(root).pending("jobs") == 2
    sent = Client(root).send(queue="jobs", body=b"from python", attributes={"via": "client"})
    assert sent.target == "aws" and sent.destination == url and provider(root).pending("jobs") == 3
    with pytest.raises(UsageError, match="read on no listed target"):
        Client(root).send(queue="nope", body=b"x")

    for body in ("a", "b", "c"):  # what SQS moves after max receives: the message with its attributes
        sqs.send_message(QueueUrl=dlq, MessageBody=body,
                         MessageAttributes={"k": {"DataType": "String", "StringValue": body.upper()}})
    code, out = cli("-o", "json", "dead-letters", str(root), "-t", "aws", "--queue", "jobs")
    assert code == 0, out
    letters = json.loads(out)["dead_letters"]["jobs"]
    assert [d["body"] for d in letters] == ["a", "b", "c"] or sorted(d["body"] for d in letters) == ["a", "b", "c"]
    assert all(d["attributes"]["k"] == d["body"].upper() and d["attributes"]["ApproximateReceiveCount"] == "1"
               for d in letters)
    by_body = {d["body"]: d["id"] for d in letters}
    code, out = cli("dead-letters", str(root), "-t", "aws", "--queue", "jobs")  # a listing leaves them there
    assert code == 0 and "3 dead letter(s)" in out, out

    code, out = cli("dead-letters", str(root), "-t", "aws", "--queue", "jobs", "--retry", "--id", by_body["a"])
    assert code == 0 and "sent back 1 dead letter(s)" in out, out
    code, out = cli("dead-letters", str(root), "-t", "aws", "--queue", "jobs", "--purge", "--yes",
                    "--id", by_body["b"])
    assert code == 0 and "purged 1" in out, out
    code, out = cli("dead-letters", str(root), "-t", "aws", "--queue", "jobs", "--purge", "--id", "nope")
    assert code == 2 and "no dead letter nope in jobs-dlq" in out, out
    remaining = [d["body"] for d in json.loads(cli("-o", "json", "dead-letters", str(root), "-t", "aws")[1])
                 ["dead_letters"]["jobs"]]
    assert remaining == ["c"]
    bodies = []
    while msgs := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                                      VisibilityTimeout=30).get("Messages", []):
        bodies += [(m["Body"], m.get("MessageAttributes", {}).get("k", {}).get("StringValue")) for m in msgs]
    assert ("a", "A") in bodies  # sent back once, attributes kept

    code, out = cli("send", str(root), "-t", "aws", "--queue", "jobs", "-d", b"\xff".decode("latin-1"))
    assert code == 0  # text is text; only undecodable bytes (from --file) are refused
    (root / "bin").write_bytes(b"\xff\xfe")
    code, out = cli("send", str(root), "-t", "aws", "--queue", "jobs", "--file", str(root / "bin"))
    assert code == 2 and "not UTF-8" in out, out


def _lines(root: Path, needle: str, count: int, timeout: float = 60) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        lines = [r.message for r in provider(root).logs("work", None, False)]
        if sum(needle in line for line in lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.5)


@pytest.mark.docker
@pytest.mark.slow
def test_poison_message_dead_lettered_after_max_attempts_then_retried_to_a_fixed_handler(
        moto: str, lambda_images: None, tmp_path: Path) -> None:
    boto3.client("sqs").create_queue(QueueName="jobs")
    boto3.client("kinesis").create_stream(StreamName="clicks", ShardCount=1)
    root = write(tmp_path / "svc", attempts=3, stream=True)
    code, out = cli("deploy", str(root), "-t", "aws")
    assert code == 0, out
    code, out = cli("send", str(root), "-t", "aws", "--queue", "jobs", "-d", "poison", "-a", "tenant=acme")
    assert code == 0, out
    for n in range(1, 4):  # each arrival makes moto's mapping receive the queue again
        assert cli("send", str(root), "-t", "aws", "--queue", "jobs", "-d", f"ok-{n}")[0] == 0
    lines = _lines(root, "handled ok-3", 1)
    assert sum("attempt poison" in line for line in lines) == 3, "\n".join(lines)  # exactly max_attempts receives
    assert all(any(f"handled ok-{n}" in line for line in lines) for n in (1, 2, 3))
    assert provider(root).pending("jobs") == 0

    code, out = cli("-o", "json", "dead-letters", str(root), "-t", "aws", "--queue", "jobs")
    assert code == 0, out
    (letter,) = json.loads(out)["dead_letters"]["jobs"]
    assert letter["body"] == "poison" and letter["attributes"]["tenant"] == "acme"
    assert letter["attributes"]["ApproximateReceiveCount"] == "4"  # 3 by the function + this listing

    write(root, fixed=True, attempts=3, stream=True)
    assert cli("deploy", str(root), "-t", "aws")[0] == 0
    # moto pins a mapping to the version its alias named when the mapping was made (Lambda resolves the
    # alias at each invoke): delete the SQS mapping so the next deploy makes it again, on the fixed version
    lam = boto3.client("lambda")
    (mapping,) = [m for m in lam.list_event_source_mappings()["EventSourceMappings"]
                  if m["EventSourceArn"].endswith(":jobs")]
    lam.delete_event_source_mapping(UUID=mapping["UUID"])
    assert cli("deploy", str(root), "-t", "aws")[0] == 0
    code, out = cli("dead-letters", str(root), "-t", "aws", "--retry")
    assert code == 0 and "jobs: sent back 1 dead letter(s)" in out, out
    lines = _lines(root, "handled poison", 1)
    assert any('handled poison' in line for line in lines), "\n".join(lines)
    assert provider(root).dead_letters("jobs") == [] and provider(root).pending("jobs") == 0

    code, out = cli("send", str(root), "-t", "aws", "--stream", "clicks", "-d", '{"click": 7}',
                    "-a", "partition_key=user-7")
    assert code == 0 and "clicks" in out, out
    assert any('handled {"click": 7}' in line for line in _lines(root, '{"click": 7}', 1))
    code, out = cli("send", str(root), "-t", "aws", "--stream", "clicks", "-d", "x", "-a", "tenant=acme")
    assert code == 3 and "Kinesis records carry no attributes" in out, out
