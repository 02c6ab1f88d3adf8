"""GET /time: the current time (UTC) in a sentence."""

import datetime
import json


def endpoint(event, context):
    now = datetime.datetime.now(datetime.timezone.utc)
    body = {"message": f"Hello, the current time is {now:%H:%M:%S}."}
    return {"statusCode": 200, "body": json.dumps(body)}
