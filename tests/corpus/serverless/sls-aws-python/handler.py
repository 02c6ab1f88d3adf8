"""A function with no trigger: invoked directly, it answers with a greeting and the event it got."""

import json


def hello(event, context):
    body = {"message": "Go Serverless! The function ran.", "input": event}
    return {"statusCode": 200, "body": json.dumps(body)}
