"""Lambda handlers as they were written for AWS: nothing here knows about multicloud."""

import json


def orders(event, context):
    order_id = event["pathParameters"]["id"]
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "cookies": ["last-order=" + order_id],
        "body": json.dumps({"order": order_id, "by": context.function_name,
                            "query": event.get("queryStringParameters") or {}}),
    }


def fulfil(event, context):
    failed = [{"itemIdentifier": r["messageId"]} for r in event["Records"] if not json.loads(r["body"]).get("sku")]
    return {"batchItemFailures": failed}
