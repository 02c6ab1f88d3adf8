"""GET / on a REST API: a greeting plus the event, echoed back."""

import json


def hello(event, context):
    body = {"message": "Hello from a REST API function", "input": event}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}
