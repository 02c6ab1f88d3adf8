"""Dead letters of queue triggers: one SQS queue `<queue>-dlq` per queue a function reads, and the source
queue's redrive policy pointing at it with `maxReceiveCount` = the trigger's `max_attempts`.

SQS counts an attempt each time a consumer receives the message (Lambda's poller, on behalf of the
function); once a message has been received `maxReceiveCount` times without being deleted, the next
receive moves it to the dead-letter queue. The source queue stays the user's (multicloud only sets its
`RedrivePolicy` attribute, and clears it on remove); the dead-letter queue is multicloud's: created and
tagged by deploy, deleted by remove (with whatever dead letters it still holds). Both are converged like
every other resource, with drift fingerprints (see `drift`), and `plan` only reads.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from multicloud.errors import OperationError, SpecError, SpecErrors
from multicloud.project import Project

from .context import Run, is_not_found
from .drift import Record, check
from .names import TAG_SERVICE, TAG_STAGE, Names

DLQ_SUFFIX = "-dlq"
FIFO = ".fifo"
RETENTION_S = "1209600"  # 14 days, the longest SQS keeps a message: dead letters wait for a human
MAX_NAME = 80  # SQS queue names


def dlq_name(queue: str) -> str:
    """`orders` -> `orders-dlq`; a FIFO queue needs a FIFO dead-letter queue: `jobs.fifo` -> `jobs-dlq.fifo`."""
    if queue.endswith(FIFO):
        return queue.removesuffix(FIFO) + DLQ_SUFFIX + FIFO
    return queue + DLQ_SUFFIX


def check_spec(project: Project) -> None:
    """One redrive policy per queue: functions that read the same queue must agree on `max_attempts`;
    the dead-letter queue's name must fit SQS's 80 characters."""
    errors: list[SpecError] = []
    for queue, fns in sorted(project.channels_for("aws", "queue").items()):
        attempts = {t.queue.max_attempts for fn in fns for t in fn.triggers if t.queue and t.queue.name == queue}
        if len(attempts) > 1:
            errors.append(SpecError(
                f"functions {', '.join(f.name for f in fns)} read SQS queue {queue!r} with different max_attempts "
                f"({', '.join(map(str, sorted(attempts)))}); the queue has one redrive policy",
                fix="give every queue trigger on that queue the same max_attempts",
                where=project.locate(("functions", fns[-1].name, "triggers"))))
        if len(dlq_name(queue)) > MAX_NAME:
            errors.append(SpecError(
                f"the dead-letter queue name {dlq_name(queue)!r} is over SQS's {MAX_NAME} characters",
                fix=f"use a queue name of at most {MAX_NAME - len(DLQ_SUFFIX)} characters",
                where=project.locate(("functions", fns[0].name, "triggers"))))
    if errors:
        raise SpecErrors(errors)


def _url(run: Run, name: str) -> str | None:
    try:
        return str(run.aws.client("sqs").get_queue_url(QueueName=name)["QueueUrl"])
    except Exception as exc:
        if is_not_found(exc):
            return None
        raise


def _owned(run: Run, url: str) -> bool:
    tags = run.aws.client("sqs").list_queue_tags(QueueUrl=url).get("Tags", {})
    return bool(tags.get(TAG_SERVICE) == run.service and tags.get(TAG_STAGE) == run.settings.stage)


def _redrive(run: Run, url: str) -> dict[str, Any]:
    attrs = run.aws.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])
    text = attrs.get("Attributes", {}).get("RedrivePolicy") or ""
    return json.loads(text) if text else {}


def ensure(run: Run, names: Names, queues: dict[str, int], record: Record | None = None) -> None:
    """`queues`: {queue name: max_attempts} of one function. Creates each `<queue>-dlq` (tagged), then
    points the queue's redrive policy at it. Refuses, before writing, a dead-letter queue of that name
    that is not this service's, and a redrive policy to another queue that multicloud did not set."""
    tags = names.tags(run.settings.tags)
    found: dict[str, tuple[str, str | None, dict[str, Any]]] = {}
    for queue in sorted(queues):
        url = _url(run, queue)
        if url is None:  # sources.resolve found it moments ago; gone meanwhile
            raise OperationError(f"the SQS queue {queue!r} disappeared during the deploy",
                                 fix="create it again, then deploy", where=f"functions.{names.function}.triggers")
        dlq_url = _url(run, dlq_name(queue))
        if dlq_url is not None and not _owned(run, dlq_url):
            raise OperationError(
                f"an SQS queue {dlq_name(queue)!r} exists but is not this service's dead-letter queue "
                f"(no {TAG_SERVICE}={run.service}, {TAG_STAGE}={run.settings.stage} tags)",
                fix="rename or delete that queue (multicloud names the dead letters of a queue `<queue>-dlq`)",
                where=f"functions.{names.function}.triggers")
        found[queue] = (url, dlq_url, _redrive(run, url))
    dlqs = check(record, "dead-letter-queues", {dlq_name(q): {} for q, (_, d, _) in found.items() if d},
                 {dlq_name(q): {} for q in found})
    current = {q: {"target": str(p.get("deadLetterTargetArn", "")).rsplit(":", 1)[-1],
                   "max receive count": int(p.get("maxReceiveCount", 0))} for q, (_, _, p) in found.items() if p}
    want = {q: {"target": dlq_name(q), "max receive count": n} for q, n in queues.items()}
    policies = check(record, "redrive", current, want)
    for queue, (url, dlq_url, _) in found.items():
        dlq = dlq_name(queue)
        if dlq_url is None:
            attributes = {"MessageRetentionPeriod": RETENTION_S}
            if dlq.endswith(FIFO):
                attributes["FifoQueue"] = "true"
            run.write("create", f"sqs queue {dlq}", "sqs:CreateQueue", dict(QueueName=dlq, Attributes=attributes,
                                                                            tags=tags),
                      dlqs.label(dlq, f"dead-letter queue {dlq}"))
        else:
            run.noop(f"sqs queue {dlq}")
        resource = f"sqs redrive policy {queue} -> {dlq}"
        if current.get(queue) == want[queue]:
            run.noop(resource)
            continue
        was = current.get(queue, {}).get("target")
        if was and was != dlq and not policies.made(queue):
            raise OperationError(
                f"SQS queue {queue!r} already sends failed messages to {was!r}; multicloud will not take over "
                "a redrive policy it did not set",
                fix=f"remove the queue's redrive policy (multicloud then points it at {dlq}, max_attempts "
                    "receives), or read the queue from another service", where=f"functions.{names.function}.triggers")
        arn = run.aws.arn("sqs", dlq)
        value = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": queues[queue]})
        run.write("update", resource, "sqs:SetQueueAttributes", dict(QueueUrl=url, Attributes={"RedrivePolicy": value}),
                  policies.label(queue, f"the redrive policy of {queue}", f"max receive count {queues[queue]}"))


def remove(run: Run, queues: Iterable[str]) -> None:
    """Undo `ensure` for queues no function of the service reads any more: clear the redrive policy that
    points at our dead-letter queue, then delete the dead-letter queue (and the dead letters in it)."""
    sqs = run.aws.client("sqs")
    for queue in sorted(set(queues)):
        dlq = dlq_name(queue)
        dlq_url = _url(run, dlq)
        if dlq_url is None or not _owned(run, dlq_url):
            continue
        url = _url(run, queue)
        if url is not None and str(_redrive(run, url).get("deadLetterTargetArn", "")).endswith(f":{dlq}"):
            run.write("update", f"sqs redrive policy {queue} -> {dlq}", "sqs:SetQueueAttributes",
                      dict(QueueUrl=url, Attributes={"RedrivePolicy": ""}), "cleared")
        count = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])
        held = int(count.get("Attributes", {}).get("ApproximateNumberOfMessages", 0))
        run.write("delete", f"sqs queue {dlq}", "sqs:DeleteQueue", dict(QueueUrl=dlq_url),
                  f"{held} dead letter(s) dropped" if held else "")
