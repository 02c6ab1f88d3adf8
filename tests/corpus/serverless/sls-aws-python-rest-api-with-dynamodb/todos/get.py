"""GET /todos/{id}: one todo, or 404."""

import json
import os

import boto3

from todos import decimalencoder

table = boto3.resource("dynamodb").Table(os.environ["DYNAMODB_TABLE"])


def get(event, context):
    todo_id = (event.get("pathParameters") or {}).get("id")
    item = table.get_item(Key={"id": todo_id}).get("Item") if todo_id else None
    if item is None:
        return {"statusCode": 404, "body": json.dumps({"error": f"no todo {todo_id}"})}
    return {"statusCode": 200, "body": decimalencoder.dumps(item)}
