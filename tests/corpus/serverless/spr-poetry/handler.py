"""Dependencies from Poetry's pyproject.toml (Flask, boto3; bottle is a git dependency): the versions found."""

import importlib.metadata


def version_or_none(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def hello(event, context):
    return {"versions": {name: version_or_none(name) for name in ("flask", "bottle", "boto3")}}
