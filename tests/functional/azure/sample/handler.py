"""The same user handler every target runs: it reports what it received."""

from multicloud import Response


def main(event, context):
    if event.kind == "http":
        req = event.http
        return {"kind": "http", "method": req.method, "path": req.path, "params": req.path_params,
                "query": req.query, "body": req.text, "function": context.function_name}
    if event.kind in ("queue", "stream"):
        bodies = [m.text for m in event.messages]
        CALLS.append({"kind": event.kind, "type": event.type, "bodies": bodies})
        return None
    if event.kind == "storage":
        obj = event.storage
        CALLS.append({"kind": "storage", "type": event.type, "key": obj.key, "bucket": obj.bucket})
        return None
    CALLS.append({"kind": event.kind, "type": event.type})
    return Response(204)


CALLS: list = []
