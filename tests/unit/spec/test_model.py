"""The spec model's own rules: defaults, per-target overrides, schedules, secrets, schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from multicloud.errors import SpecErrors, UsageError
from multicloud.project import Project
from multicloud.spec.loader import parse_spec
from multicloud.spec.schema import json_schema

SPEC = """
service: shop
functions:
  orders:
    handler: handler.main
    memory: 512
    env: {A: "1"}
    secrets:
      TOKEN: {aws: "ssm:/shop/token", docker: "env:SHOP_TOKEN", local: "env:SHOP_TOKEN"}
    triggers:
      - http: {path: "/orders/{id}", methods: [get, post], auth: key}
      - schedule: {rate: 15m}
      - queue: {name: orders}
    targets:
      aws: {memory: 1024, env: {A: "2"}}
      gcp: {enabled: false}
targets:
  aws: {region: eu-west-1}
  docker: {}
"""


@pytest.fixture
def project(tmp_path: Path) -> Project:
    (tmp_path / "multicloud.yaml").write_text(SPEC)
    (tmp_path / "handler.py").write_text("def main(event, context):\n    return {}\n")
    return Project.load(tmp_path)


def test_overrides_apply_per_target(project: Project) -> None:
    aws = project.function("aws", "orders")
    docker = project.function("docker", "orders")
    assert (aws.memory, aws.env, aws.secrets) == (1024, {"A": "2"}, {"TOKEN": "ssm:/shop/token"})
    assert (docker.memory, docker.env, docker.secrets) == (512, {"A": "1"}, {"TOKEN": "env:SHOP_TOKEN"})
    assert project.functions_for("gcp") == []
    assert project.default_targets() == ["aws", "docker"]


def test_triggers_are_typed(project: Project) -> None:
    kinds = [t.kind for t in project.function("aws", "orders").triggers]
    assert kinds == ["http", "schedule", "queue"]
    http = project.spec.functions["orders"].triggers[0].http
    assert http is not None and http.methods == ("GET", "POST")
    schedule = project.spec.functions["orders"].triggers[1].schedule
    assert schedule is not None and schedule.rate_seconds == 900


def test_capability_errors_are_located(project: Project) -> None:
    with pytest.raises(SpecErrors) as info:
        project.check_target("azure")  # ssm: references mean nothing on Azure
    err = info.value.errors[0]
    assert err.where.line == 9 and "azure" in err.what  # type: ignore[union-attr]


def test_valid_spec_passes_the_json_schema() -> None:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(yaml.safe_load(SPEC), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"service": "x", "functions": {"a": {"handler": "h.m", "memroy": 1}}}, schema)


def test_examples_validate_against_schema_and_model() -> None:
    root = Path(__file__).resolve().parents[3] / "examples"
    specs = sorted(root.glob("*/multicloud.yaml"))
    assert len(specs) >= 2
    schema = json_schema()
    for spec in specs:
        jsonschema.validate(yaml.safe_load(spec.read_text()), schema)
        Project.load(spec)


def test_schema_is_json_serialisable() -> None:
    assert json.loads(json.dumps(json_schema()))["title"] == "multicloud.yaml"


def test_secret_value_is_never_echoed() -> None:
    with pytest.raises(SpecErrors) as info:
        parse_spec("service: a\nfunctions:\n  f:\n    handler: h.m\n    secrets: {K: p4ssw0rd-value}\n")
    assert "p4ssw0rd-value" not in info.value.message


def test_checked_in_schema_is_current() -> None:
    """`multicloud schema > multicloud.schema.json` regenerates it."""
    path = Path(__file__).resolve().parents[3] / "multicloud.schema.json"
    assert json.loads(path.read_text()) == json_schema()


def test_hybrid_placement_routes_each_function() -> None:
    root = Path(__file__).resolve().parents[3] / "examples" / "hybrid-clinic"
    project = Project.load(root)
    assert [f.name for f in project.functions_for("aws")] == ["slots"]
    assert [f.name for f in project.functions_for("docker")] == ["records"]
    assert project.default_targets() == ["aws", "docker"]
    project.check_target("aws")  # the confidential function is simply not placed there
    with pytest.raises(SpecErrors, match="no function of this service may run on gcp"):
        project.check_target("gcp")


def test_a_function_placed_elsewhere_is_refused_saying_why(project: Project) -> None:
    clinic = Project.load(Path(__file__).resolve().parents[3] / "examples" / "hybrid-clinic")
    with pytest.raises(UsageError) as confidential:
        clinic.function("aws", "records")
    assert "may not run on aws" in confidential.value.what and "confidential" in confidential.value.what
    assert confidential.value.fix == "use a target it may run on: docker"
    assert confidential.value.where.field == "functions.records.placement"  # type: ignore[union-attr]
    with pytest.raises(UsageError) as narrowed:
        clinic.function("docker", "slots")
    assert "its placement allows only aws, local" in narrowed.value.what
    assert narrowed.value.fix == "use a target it may run on: aws"
    with pytest.raises(UsageError, match="disabled on gcp"):
        project.function("gcp", "orders")
    with pytest.raises(UsageError, match="no function 'nope' on target aws"):
        project.function("aws", "nope")
