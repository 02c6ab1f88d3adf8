"""GET / on an HTTP API: a greeting plus the event, echoed back."""

import json


def hello(event, context):
    body = {"message": "Hello from an HTTP API function", "input": event}
    return {"statusCode": 200, "body": json.dumps(body)}
