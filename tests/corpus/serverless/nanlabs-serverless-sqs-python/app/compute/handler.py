"""Queue consumer: reads each SQS record's JSON body and reports what it computed."""

import json


def compute(event, context):
    results = []
    for record in event.get("Records", []):
        message = json.loads(record.get("body") or "{}")
        text = str(message.get("message", ""))
        results.append({"messageId": record.get("messageId"), "length": len(text), "upper": text.upper()})
        print(json.dumps(results[-1]))
    return {"processed": len(results)}
