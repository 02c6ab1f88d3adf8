"""Handlers of the sample service: each records (and prints, for logs) what the runtime handed it."""

import json
import os

from multicloud import Response

SEEN = []


def _record(item):
    SEEN.append(item)
    print("seen " + json.dumps(item, sort_keys=True, default=str), flush=True)


def api(event, context):
    if event.kind == "schedule":  # the Cloud Scheduler job of this http function
        _record({"function": context.function_name, "kind": event.kind, "name": event.schedule.name})
        return None
    req = event.http
    if req.method == "POST":
        return Response(201, {"X-Echo": req.headers.get("x-echo", "")}, req.body)
    return {
        "function": context.function_name,
        "target": context.target,
        "path": req.path,
        "path_params": req.path_params,
        "query": req.query,
        "greeting": os.environ.get("GREETING"),
        "api_key_set": bool(os.environ.get("API_KEY")),
        "kind": event.kind,
    }


def on_object(event, context):
    obj = event.storage
    _record({"function": context.function_name, "kind": event.kind, "type": event.type, "bucket": obj.bucket,
             "key": obj.key, "size": obj.size, "content_type": obj.content_type})


def on_messages(event, context):
    _record({"function": context.function_name, "kind": event.kind,
             "messages": [{"id": m.id, "body": m.text, "attributes": m.attributes} for m in event.messages]})


def on_schedule(event, context):
    _record({"function": context.function_name, "kind": event.kind, "name": event.schedule.name})


def direct(event, context):
    _record({"function": context.function_name, "kind": event.kind, "type": event.type, "data": event.data})
