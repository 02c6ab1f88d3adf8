"""GET /hello (REST API) from a handler inside a package folder."""

import json


def hello(event, context):
    return {"statusCode": 200, "body": json.dumps({"message": "Hello Python module!", "path": event.get("path")})}
