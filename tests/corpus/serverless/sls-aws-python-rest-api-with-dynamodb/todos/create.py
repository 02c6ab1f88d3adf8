"""POST /todos {"text": ...}: store a new todo (unchecked) and answer it."""

import json
import os
import time
import uuid

import boto3

from todos import decimalencoder

table = boto3.resource("dynamodb").Table(os.environ["DYNAMODB_TABLE"])


def create(event, context):
    try:
        data = json.loads(event.get("body") or "{}")
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        return {"statusCode": 400, "body": json.dumps({"error": "send a JSON object with a text string"})}
    now = int(time.time() * 1000)
    item = {"id": str(uuid.uuid1()), "text": data["text"], "checked": False, "createdAt": now, "updatedAt": now}
    table.put_item(Item=item)
    return {"statusCode": 200, "body": decimalencoder.dumps(item)}
