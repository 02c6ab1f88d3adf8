"""POST /send-to-queue: put the request's JSON body on the queue (SQS_QUEUE_URL, endpoint SQS_CLIENT_URL)."""

import json
import os

import boto3


def _client():
    endpoint = os.environ.get("SQS_CLIENT_URL") or None
    return boto3.client("sqs", endpoint_url=endpoint, region_name=os.environ.get("AWS_REGION", "us-east-1"))


def send_to_queue(event, context):
    try:
        payload = json.loads(event.get("body") or "{}")
    except ValueError:
        return {"statusCode": 400, "body": json.dumps({"error": "the body is not JSON"})}
    sent = _client().send_message(QueueUrl=os.environ["SQS_QUEUE_URL"], MessageBody=json.dumps(payload))
    return {"statusCode": 200, "body": json.dumps(sent)}
