"""GET /hello (REST API)."""

import json
import sys


def hello(event, context):
    body = {"message": "Hello Python 3!", "major": sys.version_info.major}
    return {"statusCode": 200, "body": json.dumps(body)}
