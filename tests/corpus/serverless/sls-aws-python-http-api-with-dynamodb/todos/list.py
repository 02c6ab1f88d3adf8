"""GET /todos: every todo, ordered by id."""

import os

import boto3

from todos import decimalencoder

table = boto3.resource("dynamodb").Table(os.environ["DYNAMODB_TABLE"])


def list(event, context):  # noqa: A001 - the name serverless.yml gives the handler
    items, kwargs = [], {}
    while True:
        page = table.scan(**kwargs)
        items += page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    items.sort(key=lambda item: item["id"])
    return {"statusCode": 200, "body": decimalencoder.dumps(items)}
