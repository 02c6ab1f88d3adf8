"""Handlers of the sample service: each returns what it saw, so tests can check the runtime's view."""

import os

from multicloud import Response


def api(event, context):
    req = event.http
    if req.method == "POST":
        return Response(201, {"X-Echo": req.headers.get("x-echo", "")}, req.body)
    return {
        "function": context.function_name,
        "path": req.path,
        "query": req.query,
        "greeting": os.environ.get("GREETING"),
        "kind": event.kind,
    }


SEEN = []


def on_object(event, context):
    obj = event.storage
    SEEN.append({"kind": event.kind, "type": event.type, "bucket": obj.bucket, "key": obj.key, "size": obj.size})


def on_messages(event, context):
    SEEN.append({"kind": event.kind, "messages": [(m.id, m.body, m.attributes) for m in event.messages]})


def on_schedule(event, context):
    SEEN.append({"kind": event.kind, "name": event.schedule.name})


def direct(event, context):
    SEEN.append({"kind": event.kind, "data": event.data})
