"""Fuzz the spec loader: any input yields a `Spec` or a `SpecError`, never another exception."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from multicloud.errors import Location, SpecError, SpecErrors
from multicloud.spec.loader import MAX_DEPTH, MAX_NODES, MAX_NUMBER_CHARS, parse_spec
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


# ---- hostile shapes: alias bombs, deep nesting, huge numbers (issue 12) ---------------------------------
# Each must give a located SpecError. `hang_guard` only stops a run that would never end (the speed and
# memory of these inputs are measured by bench/hostile_specs.py, against the 2 s / 100 MB ceiling).
@contextmanager
def hang_guard(seconds: int = 20) -> Iterator[None]:
    def stop(*_: object) -> None:
        raise TimeoutError(f"parsing did not finish in {seconds} s")

    old = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def located_error(text: str) -> SpecError:
    with hang_guard(), pytest.raises(SpecError) as info:
        parse_spec(text, "hostile.yaml")
    err = info.value
    where = err.errors[0].where if isinstance(err, SpecErrors) else err.where
    assert isinstance(where, Location) and where.file == "hostile.yaml" and where.line is not None, err.message
    return err


def alias_bomb(width: int, depth: int, flow: bool = True) -> str:
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    for level in range(1, depth + 1):
        refs = [f"*l{level - 1}"] * width
        lines.append(f"l{level}: &l{level} [{', '.join(refs)}]" if flow
                     else f"l{level}: &l{level}\n" + "\n".join(f"  - {r}" for r in refs))
    return "service: bomb\nfunctions: {a: {handler: h.m}}\n" + "\n".join(lines) + "\n"


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 40), st.integers(1, 30), st.booleans())
def test_alias_expansion_is_bounded(width: int, depth: int, flow: bool) -> None:
    text = alias_bomb(width, depth, flow)
    size, total = width + 1, 0
    for _ in range(depth + 1):
        total += size + 1  # the node and its key
        size = 1 + width * size
    if total < MAX_NODES - 100:
        with hang_guard():
            parse_ok(text)  # small expansions are legitimate YAML
        return
    if total < MAX_NODES + 100:
        return  # on the edge: either answer is right
    err = located_error(text)
    assert "YAML nodes" in err.message and "alias" in err.message


@settings(max_examples=40, deadline=None)
@given(st.integers(MAX_DEPTH + 1, 20_000), st.sampled_from(["[", "{a: ", "- "]))
def test_deep_nesting_is_refused_where_it_gets_too_deep(depth: int, opener: str) -> None:
    if opener == "- ":
        body = "".join("  " * i + "-\n" for i in range(depth)) + "  " * depth + "x\n"
    else:
        close = {"[": "]", "{a: ": "}"}[opener]
        body = opener * depth + "x" + close * depth + "\n"
    err = located_error("service: deep\nfunctions:\n  a:\n    handler: h.m\n    env: " + body
                        if opener != "- " else "service: deep\nx:\n" + body)
    assert "nests deeper" in err.message


@settings(max_examples=40, deadline=None)
@given(st.integers(MAX_NUMBER_CHARS + 1, 200_000), st.sampled_from(["9", "-9", "0x9", "1.5e", "0o7", "1_0"]))
def test_huge_numbers_are_refused_located(digits: int, prefix: str) -> None:
    number = prefix + "9" * digits if not prefix.startswith(("0x", "0o")) else prefix + "7" * digits
    if prefix == "1.5e":
        number = "1.5e" + "9" * min(digits, 5000)
    text = f"service: n\nfunctions:\n  a:\n    handler: h.m\n    memory: {number}\n"
    if len(text) > 1_000_000:
        return
    err = located_error(text)
    assert "number" in err.message or "characters" in err.message


def test_recursive_alias_is_a_located_error() -> None:
    err = located_error("service: r\nfunctions: &f {a: {handler: h.m, env: *f}}\n")
    assert "cycle" in err.message


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 12), st.integers(1, 8))
def test_merge_key_chains_stay_bounded(width: int, depth: int) -> None:
    """`<<: *x` merges are aliases too: legitimate when small, bounded when they multiply."""
    lines = ["base0: &b0 {" + ", ".join(f"k{i}: v" for i in range(width)) + "}"]
    for level in range(1, depth + 1):
        lines.append(f"base{level}: &b{level} {{" + ", ".join(f"m{i}: *b{level - 1}" for i in range(width)) + "}")
    text = "service: m\nfunctions: {a: {handler: h.m}}\n" + "\n".join(lines) + "\n"
    with hang_guard():
        parse_ok(text)
