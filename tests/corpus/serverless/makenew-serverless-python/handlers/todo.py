"""Lambda Function URL handler (payload 2.0): answers every method and path with the todo item as JSON."""

import json

from makenew_serverless_python import todo


def main(event, context):
    http = event.get("requestContext", {}).get("http", {})
    body = {"data": todo(http.get("method", "GET"), event.get("rawPath", "/"))}
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}
