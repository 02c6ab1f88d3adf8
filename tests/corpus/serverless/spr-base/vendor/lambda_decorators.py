"""A vendored helper module (serverless-python-requirements copies `vendor:` folders into the package):
decorators for Lambda handlers, written for this corpus."""

import functools
import json


def json_body(handler):
    """Parse event["body"] as JSON into event["json"] before the handler runs."""

    @functools.wraps(handler)
    def wrapper(event, context):
        event = dict(event)
        event["json"] = json.loads(event.get("body") or "null")
        return handler(event, context)

    return wrapper


def json_response(handler):
    """Wrap a handler's return value as an HTTP JSON answer (200)."""

    @functools.wraps(handler)
    def wrapper(event, context):
        return {"statusCode": 200, "body": json.dumps(handler(event, context))}

    return wrapper
