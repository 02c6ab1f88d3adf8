"""One handler, the same on every cloud: it only sees the portable event model."""

import os


def hello(event, context):
    req = event.http
    name = req.query.get("name", [None])[0]
    if name is None and req.body:
        name = (req.json() or {}).get("name")
    context.logger.info("greeting", name=name or "world")
    return {"message": f"{os.environ.get('GREETING', 'Hello')}, {name or 'world'}!", "target": context.target}
