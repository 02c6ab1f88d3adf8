"""module2 (its own requirements: flask): answers with the Flask version it was packaged with."""

import importlib.metadata


def hello(event, context):
    return {"flask": importlib.metadata.version("flask")}
