"""A todo item, rendered through the toml dependency the service declares (so a missing wheel shows)."""

import toml


def todo(method, path):
    item = {"todo": {"title": "write the handler", "done": False, "method": method, "path": path}}
    return toml.loads(toml.dumps(item))
