"""DELETE /todos/{id}: remove a todo."""

import json
import os

import boto3

table = boto3.resource("dynamodb").Table(os.environ["DYNAMODB_TABLE"])


def delete(event, context):
    todo_id = (event.get("pathParameters") or {}).get("id")
    table.delete_item(Key={"id": todo_id})
    return {"statusCode": 200, "body": json.dumps({"deleted": todo_id})}
