"""module1 (its own requirements: boto3 through requirements-common.txt, and pyaml): the event as YAML."""

import yaml


def hello(event, context):
    return {"yaml": yaml.safe_dump(event, sort_keys=True)}
