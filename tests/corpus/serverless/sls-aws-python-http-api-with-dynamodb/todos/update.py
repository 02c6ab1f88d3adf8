"""PUT /todos/{id} {"text": ..., "checked": ...}: change a todo and answer it as stored."""

import json
import os
import time

import boto3

from todos import decimalencoder

table = boto3.resource("dynamodb").Table(os.environ["DYNAMODB_TABLE"])


def update(event, context):
    todo_id = (event.get("pathParameters") or {}).get("id")
    try:
        data = json.loads(event.get("body") or "{}")
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("text"), str) or not isinstance(
            data.get("checked"), bool):
        return {"statusCode": 400, "body": json.dumps({"error": "send text (string) and checked (true/false)"})}
    answer = table.update_item(
        Key={"id": todo_id},
        UpdateExpression="SET #text = :text, checked = :checked, updatedAt = :now",
        ExpressionAttributeNames={"#text": "text"},
        ExpressionAttributeValues={":text": data["text"], ":checked": data["checked"],
                                   ":now": int(time.time() * 1000)},
        ReturnValues="ALL_NEW",
    )
    return {"statusCode": 200, "body": decimalencoder.dumps(answer["Attributes"])}
