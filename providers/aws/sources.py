"""Find the ARNs of the queues, streams and buckets a spec's triggers name (read-only calls).

multicloud does not create or delete them: they hold the user's data and outlive deployments.
"""

from __future__ import annotations

from dataclasses import dataclass

from multicloud.errors import OperationError
from multicloud.project import ResolvedFunction

from .context import Run, error_code, is_not_found


@dataclass(frozen=True)
class Sources:
    queues: dict[str, str]  # name -> ARN
    streams: dict[str, str]
    buckets: dict[str, str]


def _missing(kind: str, name: str, fn: str, exc: Exception) -> OperationError:
    return OperationError(
        f"the {kind} {name!r} used by function {fn} does not exist in this region",
        fix=f"create the {kind} first (multicloud never creates or deletes data resources), or fix its name",
        where=f"functions.{fn}.triggers",
    )


def resolve(run: Run, fn: ResolvedFunction) -> Sources:
    queues: dict[str, str] = {}
    streams: dict[str, str] = {}
    buckets: dict[str, str] = {}
    for trig in fn.triggers:
        if trig.queue is not None:
            sqs = run.aws.client("sqs")
            try:
                url = sqs.get_queue_url(QueueName=trig.queue.name)["QueueUrl"]
                attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
            except Exception as exc:
                if is_not_found(exc):
                    raise _missing("SQS queue", trig.queue.name, fn.name, exc) from exc
                raise
            queues[trig.queue.name] = attrs["QueueArn"]
        elif trig.stream is not None:
            try:
                summary = run.aws.client("kinesis").describe_stream_summary(StreamName=trig.stream.name)
            except Exception as exc:
                if is_not_found(exc):
                    raise _missing("Kinesis stream", trig.stream.name, fn.name, exc) from exc
                raise
            streams[trig.stream.name] = summary["StreamDescriptionSummary"]["StreamARN"]
        elif trig.storage is not None:
            try:
                run.aws.client("s3").head_bucket(Bucket=trig.storage.bucket)
            except Exception as exc:
                if is_not_found(exc) or error_code(exc) in {"404", "NoSuchBucket"}:
                    raise _missing("S3 bucket", trig.storage.bucket, fn.name, exc) from exc
                raise
            buckets[trig.storage.bucket] = f"arn:{run.aws.partition}:s3:::{trig.storage.bucket}"
    return Sources(queues, streams, buckets)
