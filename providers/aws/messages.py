"""Messages on the queues and streams functions read: `send` (SQS SendMessage with message attributes,
Kinesis PutRecord with a partition key), `pending` (SQS's approximate counts) and the dead letters in
`<queue>-dlq` (list, send back, drop).

SQS has no way to look at a message without receiving it, so listing receives the dead letters with a
visibility timeout and then makes them visible again at once: each listing counts as one more receive
in `ApproximateReceiveCount`. `--retry` receives, sends each message back to its queue once (body and
message attributes as they were), then deletes it from the dead-letter queue (AWS's StartMessageMoveTask
does the same server-side, but moves all or nothing and moto lacks it). A crash between the send and the
delete leaves the message in both queues: at least once, never lost.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from multicloud.errors import OperationError, UnsupportedError, UsageError
from multicloud.provider import Channel, DeadLetter, DeadLetterAction, SendResult

from .clients import Aws
from .context import is_not_found
from .redrive import FIFO, dlq_name

PARTITION_KEY = "partition_key"  # the one attribute a Kinesis record has
GROUP_ID = "group_id"  # the message group of a FIFO queue (default: one group, "multicloud")
HOLD_S = 60  # how long a listing or a retry keeps the dead letters it received out of others' sight
MOST = 10_000  # dead letters one retry or purge acts on


def queue_url(aws: Aws, name: str, why: str = "") -> str:
    try:
        return str(aws.client("sqs").get_queue_url(QueueName=name)["QueueUrl"])
    except Exception as exc:
        if is_not_found(exc):
            raise OperationError(f"SQS queue {name!r} does not exist in {aws.region}" + why,
                                 fix="deploy the service first (multicloud deploy -t aws), or check the region "
                                     "and AWS_ENDPOINT_URL") from exc
        raise


def _text(body: bytes, what: str) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{what} bodies are text and this one is not UTF-8",
                         fix="send text (for binary data, base64-encode it yourself)") from exc


def send(aws: Aws, channel: Channel, name: str, body: bytes, attributes: dict[str, str]) -> SendResult:
    if channel == "stream":
        key = attributes.pop(PARTITION_KEY, None) or uuid.uuid4().hex
        if attributes:
            raise UnsupportedError(f"Kinesis records carry no attributes ({', '.join(sorted(attributes))})",
                                   fix=f"drop them; only --attribute {PARTITION_KEY}=K (the record's partition key) "
                                       "applies to a Kinesis stream")
        kinesis = aws.client("kinesis")
        put = kinesis.put_record(StreamName=name, Data=body, PartitionKey=key)
        arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
        return SendResult("aws", channel, name, str(arn), f"{put['ShardId']}/{put['SequenceNumber']}")
    url = queue_url(aws, name)
    args: dict[str, Any] = {"QueueUrl": url, "MessageBody": _text(body, "SQS message")}
    if name.endswith(FIFO):
        args["MessageGroupId"] = attributes.pop(GROUP_ID, None) or "multicloud"
        args["MessageDeduplicationId"] = uuid.uuid4().hex
    if attributes:
        args["MessageAttributes"] = {k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()}
    sent = aws.client("sqs").send_message(**args)
    return SendResult("aws", channel, name, url, str(sent["MessageId"]))


def pending(aws: Aws, queue: str) -> int:
    """Visible messages plus those received and not yet deleted (in flight), as SQS approximates them."""
    got = aws.client("sqs").get_queue_attributes(
        QueueUrl=queue_url(aws, queue),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(got.get("ApproximateNumberOfMessages", 0)) + int(got.get("ApproximateNumberOfMessagesNotVisible", 0))


# ---- dead letters ------------------------------------------------------------------------------------
def _receive(aws: Aws, url: str, limit: int) -> list[dict[str, Any]]:
    """Up to `limit` messages, each once, held out of sight for HOLD_S (long polls of 1 s, so every SQS
    server is asked, until one comes back empty)."""
    sqs = aws.client("sqs")
    out: dict[str, dict[str, Any]] = {}
    while len(out) < limit:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=min(10, limit - len(out)), WaitTimeSeconds=1,
                                  VisibilityTimeout=HOLD_S, AttributeNames=["All"],
                                  MessageAttributeNames=["All"]).get("Messages", [])
        if not got:
            break
        out.update((str(m["MessageId"]), m) for m in got)
    return list(out.values())


def _release(aws: Aws, url: str, messages: list[dict[str, Any]]) -> None:
    """Make received messages visible again now (not after HOLD_S)."""
    for i in range(0, len(messages), 10):
        aws.client("sqs").change_message_visibility_batch(QueueUrl=url, Entries=[
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
            for n, m in enumerate(messages[i:i + 10])])


def _dlq(aws: Aws, queue: str) -> str:
    return queue_url(aws, dlq_name(queue), " (the dead-letter queue deploy creates)")


def _attribute(value: dict[str, Any]) -> str:
    if "StringValue" in value:
        return str(value["StringValue"])
    return base64.b64encode(value.get("BinaryValue", b"")).decode()


def _letter(queue: str, m: dict[str, Any]) -> DeadLetter:
    system = m.get("Attributes", {})
    attributes = {k: _attribute(v) for k, v in m.get("MessageAttributes", {}).items()}
    attributes |= {k: str(system[k]) for k in ("ApproximateReceiveCount", "SentTimestamp") if k in system}
    sent = system.get("SentTimestamp")
    return DeadLetter(id=str(m["MessageId"]), queue=queue, body=str(m.get("Body", "")).encode(),
                      attributes=attributes, attempts=None,
                      time=datetime.fromtimestamp(int(sent) / 1000, timezone.utc) if sent else None)


def dead_letters(aws: Aws, queue: str, limit: int) -> list[DeadLetter]:
    url = _dlq(aws, queue)
    got = _receive(aws, url, limit)
    _release(aws, url, got)
    letters = [_letter(queue, m) for m in got]
    return sorted(letters, key=lambda d: d.time or datetime.min.replace(tzinfo=timezone.utc))


def _act(aws: Aws, queue: str, ids: tuple[str, ...] | None, action: str,
         each: Callable[[dict[str, Any]], None]) -> DeadLetterAction:
    url = _dlq(aws, queue)
    got = _receive(aws, url, MOST)
    chosen = [m for m in got if ids is None or str(m["MessageId"]) in ids]
    missing = sorted(set(ids or ()) - {str(m["MessageId"]) for m in chosen})
    if missing:
        _release(aws, url, got)
        raise UsageError(f"no dead letter {', '.join(missing)} in {dlq_name(queue)}",
                         fix=f"list them: multicloud dead-letters -t aws --queue {queue}")
    _release(aws, url, [m for m in got if m not in chosen])
    sqs = aws.client("sqs")
    for m in chosen:
        each(m)
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return DeadLetterAction("aws", queue, action, tuple(str(m["MessageId"]) for m in chosen))  # type: ignore[arg-type]


def retry(aws: Aws, queue: str, ids: tuple[str, ...] | None) -> DeadLetterAction:
    source = queue_url(aws, queue)
    sqs = aws.client("sqs")

    def send_back(m: dict[str, Any]) -> None:
        args: dict[str, Any] = {"QueueUrl": source, "MessageBody": m.get("Body", "")}
        if m.get("MessageAttributes"):
            args["MessageAttributes"] = {k: {f: v[f] for f in ("DataType", "StringValue", "BinaryValue") if f in v}
                                         for k, v in m["MessageAttributes"].items()}
        if queue.endswith(FIFO):
            args["MessageGroupId"] = m.get("Attributes", {}).get("MessageGroupId", "multicloud")
            args["MessageDeduplicationId"] = uuid.uuid4().hex
        sqs.send_message(**args)

    return _act(aws, queue, ids, "retry", send_back)


def purge(aws: Aws, queue: str, ids: tuple[str, ...] | None) -> DeadLetterAction:
    return _act(aws, queue, ids, "purge", lambda m: None)
