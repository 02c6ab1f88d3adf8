"""JSON Schema of `multicloud.yaml`, generated from the pydantic models, for editors."""

from __future__ import annotations

from typing import Any

from multicloud.spec.models import Spec

SCHEMA_ID = "https://multicloud.dev/schema/multicloud.schema.json"


def json_schema() -> dict[str, Any]:
    schema = Spec.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
        "title": "multicloud.yaml",
        "description": "One stateless function service, deployable to aws, azure, gcp, docker and local.",
    }
