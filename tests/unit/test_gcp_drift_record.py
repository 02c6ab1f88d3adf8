"""The pure part of gcp drift: the shared record (multicloud/drift.py) as gcp stores it, in a function's
labels (lowercase hex, five entries a label) or a job's description, tells the next plan whether a field
that differs from the spec was changed by hand or by the spec."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from multicloud.project import Project
from multicloud.providers.gcp import drift
from multicloud.providers.gcp.model import cloud_functions, settings_of
from multicloud.providers.gcp.resources import (
    desired_function,
    desired_job,
    function_record_values,
    job_record_values,
)

SERVICE = Path(__file__).parents[1] / "functional" / "gcp" / "service"
LOC = "projects/p/locations/r"
DEPLOYED: dict[str, object] = {"memory": 536870912, "env": {"GREETING": "hello"}, "labels": {"team": "payments"},
                               **{f"field{n}": n for n in range(8)}}
LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")


def stored(values: dict[str, object]) -> drift.Record:
    """The record a deploy of `values` leaves, read back from the labels it wrote."""
    labels = drift.recorded(drift.FUNCTION, values).labels_of_entries()
    assert all(drift.is_record_label(k) and LABEL_VALUE.fullmatch(v) for k, v in labels.items()), labels
    return drift.Record.of_labels({"team": "payments", **labels})


def test_the_record_round_trips_through_labels_and_refuses_other_layouts() -> None:
    made = drift.recorded(drift.FUNCTION, DEPLOYED)
    labels = made.labels_of_entries()
    assert len(labels) == 3 and sorted(labels) == ["multicloud-record", "multicloud-record-2", "multicloud-record-3"]
    assert drift.Record.of_labels(labels).recorded == made.made
    assert drift.Record.of_labels({"multicloud-record": "1" + "a" * 51}).recorded is None  # the older layout
    assert drift.Record.of_labels({}, cached=made.value).recorded == made.made  # function gone: the cache
    assert drift.Record.of_labels({}).recorded is None


def test_no_record_is_never_drift() -> None:
    now = {**DEPLOYED, "memory": 1073741824}
    assert drift.split(drift.Record(None), drift.FUNCTION, ["memory"], now, DEPLOYED) == (["memory"], [])


def test_a_field_unlike_what_the_last_deploy_applied_is_drift() -> None:
    now = {**DEPLOYED, "memory": 1073741824, "env": {"GREETING": "edited"}}
    assert drift.split(stored(DEPLOYED), drift.FUNCTION, ["memory", "env"], now, DEPLOYED) == ([], ["memory", "env"])


def test_a_field_the_spec_changed_is_plain_beside_a_hand_change() -> None:
    want = {**DEPLOYED, "env": {"GREETING": "bonjour"}}
    now = {**DEPLOYED, "memory": 1073741824}
    assert drift.split(stored(DEPLOYED), drift.FUNCTION, ["env", "memory"], now, want) == (["env"], ["memory"])


def test_a_recorded_item_that_is_gone_was_deleted() -> None:
    record = stored({**DEPLOYED, "job f-0": True})
    assert drift.label(record, drift.FUNCTION, "job f-0", False, "the job") == drift.deleted("the job")
    assert drift.label(record, drift.FUNCTION, "job f-1", False, "the job", "new") == "new"  # new in the spec
    assert drift.label(drift.Record(None), drift.FUNCTION, "job f-0", False, "the job") == ""


def test_detail_names_fields_only() -> None:
    assert drift.detail(["env"], ["memory", "labels"]) == \
        "env; drift: memory, labels changed outside multicloud"
    assert drift.detail([], ["memory"]) == "drift: memory changed outside multicloud"
    assert drift.detail(["env"], []) == "env" and drift.detail([], []) == ""
    assert drift.deleted("the job") == "drift: the job was deleted outside multicloud"


def test_job_description_carries_its_record() -> None:
    base = "managed-by=multicloud service=shop function=nightly (cron 0 3 * * *)"
    made = drift.recorded(drift.JOB, {"schedule": "0 3 * * *"})
    described, record = drift.job_record(drift.job_description(base, made))
    assert described == base and record.recorded == made.made
    assert drift.job_record(base) == (base, drift.Record(None))


@pytest.fixture(scope="module")
def shop() -> Project:
    return Project.load(SERVICE)


def test_the_function_record_is_valid_labels_and_ignores_the_source(shop: Project) -> None:
    settings = settings_of(shop)
    for cf in cloud_functions(shop):
        one = desired_function(cf, settings, "p", LOC, "a" * 64)["labels"]
        other = desired_function(cf, settings, "p", LOC, "b" * 64)["labels"]
        records = {k: v for k, v in one.items() if drift.is_record_label(k)}
        assert records and all(LABEL_VALUE.fullmatch(v) for v in records.values())
        assert drift.Record.of_labels(one).recorded is not None
        assert records == {k: v for k, v in other.items() if drift.is_record_label(k)}  # code: the source label


def test_the_function_record_follows_the_spec(shop: Project) -> None:
    settings = settings_of(shop)
    api = next(cf for cf in cloud_functions(shop) if cf.function == "api")
    changed = type(api)(**{**api.__dict__, "env": {"GREETING": "bonjour"}, "public": False})
    before, after = (function_record_values(desired_function(f, settings, "p", LOC, ""), f, settings)
                     for f in (api, changed))
    # the record's own labels are not part of its `labels` item: only the env and the invokers differ
    assert [k for k in before if before[k] != after[k]] == ["service_config.environment_variables", "invokers"]
    was, now = (drift.Record.of_labels(desired_function(f, settings, "p", LOC, "")["labels"]) for f in (api, changed))
    assert was.recorded != now.recorded


def test_the_job_record_does_not_depend_on_the_function_url(shop: Project) -> None:
    settings = settings_of(shop)
    for cf in cloud_functions(shop):
        for sched in cf.schedules:
            one = desired_job(cf, sched, settings, LOC, shop.name, "https://one.example")
            two = desired_job(cf, sched, settings, LOC, shop.name, "")
            assert one["description"] == two["description"]
            assert drift.job_record(one["description"])[1].recorded is not None
            assert job_record_values(one) == job_record_values(two)
