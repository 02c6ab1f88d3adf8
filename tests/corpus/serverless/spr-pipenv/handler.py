"""Dependencies from the Pipfile (Flask, bottle, boto3): the handler reports the versions it was built with."""

import importlib.metadata


def hello(event, context):
    return {"versions": {name: importlib.metadata.version(name) for name in ("flask", "bottle", "boto3")}}
