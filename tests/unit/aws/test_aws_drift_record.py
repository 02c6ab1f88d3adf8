"""The pure part of aws drift: fingerprints recorded by one deploy tell the next plan whether a resource
that differs from the spec was changed by hand (drift) or the spec changed (plain)."""

from __future__ import annotations

import re

import pytest

from multicloud.providers.aws.drift import PER_TAG, TAG, Record, check

DEPLOYED = {"orders": {"batch size": 5, "state": "Enabled"}, "clicks": {"batch size": 50, "state": "Enabled"}}


def recorded(want: dict[str, dict[str, object]]) -> Record:
    """The record a deploy of `want` leaves, read back from the function's tags."""
    first = Record(None)
    first.check("mappings", {}, want)
    return Record.of(first.tags(), None)


def label(record: Record, current: dict[str, dict[str, object]], want: dict[str, dict[str, object]],
          key: str) -> str:
    return record.check("mappings", current, want).label(key, "the mapping", "plain")


def test_first_deploy_is_never_drift() -> None:
    assert label(Record.of({}, None), {}, DEPLOYED, "orders") == "plain"


def test_deleted_by_hand() -> None:
    current = {"clicks": DEPLOYED["clicks"]}
    assert label(recorded(DEPLOYED), current, DEPLOYED, "orders") == \
        "drift: the mapping was deleted outside multicloud"


def test_changed_by_hand_names_the_settings() -> None:
    current = {**DEPLOYED, "orders": {"batch size": 10, "state": "Disabled"}}
    assert label(recorded(DEPLOYED), current, DEPLOYED, "orders") == \
        "drift: batch size, state of the mapping changed outside multicloud"


def test_spec_change_is_plain_even_beside_a_change_made_by_hand() -> None:
    want = {**DEPLOYED, "orders": {"batch size": 7, "state": "Enabled"}, "audit": {"batch size": 1, "state": "Enabled"}}
    current = {**DEPLOYED, "clicks": {"batch size": 50, "state": "Disabled"}}
    record = recorded(DEPLOYED)
    assert label(record, current, want, "orders") == "plain"  # as deployed: the spec changed
    assert label(record, current, want, "audit") == "plain"  # new in the spec
    assert label(record, current, want, "clicks") == "drift: state of the mapping changed outside multicloud"


def test_extra_resources_added_by_hand_or_dropped_from_the_spec() -> None:
    current = {**DEPLOYED, "stray": {"batch size": 1, "state": "Enabled"}}
    want = {"orders": DEPLOYED["orders"]}
    record = recorded(DEPLOYED)
    assert label(record, current, want, "stray") == "drift: the mapping was added outside multicloud"
    assert label(record, current, want, "clicks") == "plain"  # multicloud made it: dropped from the spec


def test_kinds_do_not_mix() -> None:
    record = recorded(DEPLOYED)
    drift = record.check("schedules", {}, DEPLOYED)  # same keys, another kind: never deployed as that
    assert drift.label("orders", "the schedule", "plain") == "plain"


def test_no_record_on_purpose_makes_nothing() -> None:
    assert check(None, "mappings", {}, DEPLOYED).label("orders", "the mapping", "plain") == "plain"


def test_state_cache_serves_when_the_function_has_no_tags() -> None:
    first = Record(None)
    first.check("mappings", {}, DEPLOYED)
    from_cache = Record.of({}, first.value)
    assert from_cache.recorded == first.made
    assert Record.of({"other": "tag"}, first.value).recorded == first.made
    assert Record.of({}, None).recorded is None


@pytest.mark.parametrize("count", [1, PER_TAG, PER_TAG + 1, 3 * PER_TAG + 2])
def test_long_records_spread_over_tags_aws_accepts(count: int) -> None:
    record = Record(None)
    record.check("schedules", {}, {f"s{i}": {"expression": f"rate({i} minutes)"} for i in range(count)})
    tags = record.tags()
    assert list(tags)[0] == TAG and all(k == TAG or re.fullmatch(TAG + r":\d+", k) for k in tags)
    assert all(len(v) <= 256 and re.fullmatch(r"[\w.:/=+\-@ ]*", v) for v in tags.values())
    assert Record.of(tags | {"team": "core"}, None).recorded == record.made
