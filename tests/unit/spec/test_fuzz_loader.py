"""Fuzz the spec loader: any input yields a `Spec` or a `SpecError`, never another exception."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from multicloud.errors import SpecError
from multicloud.spec.loader import parse_spec
from multicloud.spec.models import Spec

KEYS = ["service", "runtime", "functions", "targets", "handler", "memory", "timeout", "env", "secrets",
        "triggers", "http", "schedule", "queue", "stream", "storage", "path", "methods", "auth", "rate",
        "cron", "name", "batch_size", "bucket", "events", "aws", "azure", "gcp", "docker", "local", "hello",
        "enabled", "region", "mode", "replicas", "prefix", "suffix", "starting_position"]
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=20), st.sampled_from(["handler.main", "ssm:/a", "5m", "GET", "/x",
                                                            "python3.11", "demo", "0 * * * *", "created"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=5)),
    max_leaves=25)


def parse_ok(raw: bytes | str) -> None:
    try:
        result = parse_spec(raw, "fuzz.yaml")
    except SpecError as exc:
        assert exc.message  # every error explains itself
    else:
        assert isinstance(result, Spec)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_random_bytes(raw: bytes) -> None:
    parse_ok(raw)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("abc:-[]{}\n\t '\"&*!|>%@`#,?0123456789")), max_size=200))
def test_yaml_punctuation_soup(text: str) -> None:
    parse_ok(text)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(VALUES)
def test_structured_documents(doc: object) -> None:
    try:
        text = yaml.safe_dump(doc)
    except yaml.YAMLError:
        return
    parse_ok(text)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6))
def test_mutated_valid_function(extra: dict[str, object]) -> None:
    fn: dict[str, object] = {"handler": "handler.main", **extra}
    parse_ok(yaml.safe_dump({"service": "demo", "functions": {"hello": fn}}))
