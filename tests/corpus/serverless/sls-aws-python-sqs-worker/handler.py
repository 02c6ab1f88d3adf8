"""A queue (serverless-lift construct `jobs`): `producer` (POST /produce) enqueues the body, `consumer` works
through the batches and reports the messages that failed so only those come back."""

import json
import logging
import os

import boto3

logger = logging.getLogger()
logger.setLevel(logging.INFO)
sqs = boto3.client("sqs")


def producer(event, context):
    body = event.get("body")
    if not body:
        return {"statusCode": 400, "body": json.dumps({"message": "send a body to enqueue"})}
    sent = sqs.send_message(QueueUrl=os.environ["QUEUE_URL"], MessageBody=body)
    return {"statusCode": 200, "body": json.dumps({"message": "queued", "messageId": sent["MessageId"]})}


def consumer(event, context):
    failures = []
    for record in event.get("Records", []):
        try:
            logger.info("job %s: %s", record["messageId"], json.loads(record["body"]))
        except (KeyError, ValueError):
            failures.append({"itemIdentifier": record.get("messageId", "")})
    return {"batchItemFailures": failures}
