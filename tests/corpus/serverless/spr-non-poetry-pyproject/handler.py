"""A handler with no requirements (pyproject.toml here only configures a formatter)."""


def hello(event, context):
    return {"message": "hello", "keys": sorted(event)}
