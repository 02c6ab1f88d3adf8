"""Checks that the packaged requirements import (flask, bottle, boto3) and says which versions it found."""

import importlib.metadata


def hello(event, context):
    names = ("flask", "bottle", "boto3")
    return {"versions": {name: importlib.metadata.version(name) for name in names}}
