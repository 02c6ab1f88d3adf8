"""The pure part of gcp drift: the record a deploy leaves on a function (label) or a job (description)
tells the next plan whether a field that differs from the spec was changed by hand or by the spec."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from multicloud.project import Project
from multicloud.providers.gcp import drift
from multicloud.providers.gcp.model import cloud_functions, settings_of
from multicloud.providers.gcp.resources import (
    FUNCTION_RECORD_FIELDS,
    JOB_MASK_FIELDS,
    desired_function,
    desired_job,
)

SERVICE = Path(__file__).parents[1] / "functional" / "gcp" / "service"
LOC = "projects/p/locations/r"
FIELDS = ("memory", "env", "labels")
DEPLOYED = {"memory": "512Mi", "env": {"GREETING": "hello"}, "labels": {"team": "payments"}}


def made(values: dict[str, object]) -> dict[str, str]:
    record = drift.decode(FIELDS, drift.encode(FIELDS, values))
    assert record is not None
    return record


def test_record_round_trips_and_refuses_other_layouts() -> None:
    text = drift.encode(FIELDS, DEPLOYED)
    assert len(text) == 1 + drift.WIDTH * len(FIELDS) and re.fullmatch(r"[a-z0-9_-]{1,63}", text)
    assert drift.decode(FIELDS, text) == {f: drift.digest(DEPLOYED[f]) for f in FIELDS}
    for other in (None, "", "2" + text[1:], text[:-1], text + "a"):
        assert drift.decode(FIELDS, other) is None


def test_no_record_is_never_drift() -> None:
    assert drift.split(["memory"], None, made(DEPLOYED)) == (["memory"], [])


def test_a_field_unlike_what_the_last_deploy_applied_is_drift() -> None:
    assert drift.split(["memory", "env"], made(DEPLOYED), made(DEPLOYED)) == ([], ["memory", "env"])


def test_a_field_the_spec_changed_is_plain_beside_a_hand_change() -> None:
    want = {**DEPLOYED, "env": {"GREETING": "bonjour"}}
    assert drift.split(["env", "memory"], made(DEPLOYED), made(want)) == (["env"], ["memory"])
    assert drift.split(["state (paused)"], made(DEPLOYED), made(DEPLOYED)) == (["state (paused)"], [])


def test_detail_names_fields_only() -> None:
    assert drift.detail(["env"], ["memory", "labels"]) == \
        "env; drift: memory, labels changed outside multicloud"
    assert drift.detail([], ["memory"]) == "drift: memory changed outside multicloud"
    assert drift.detail(["env"], []) == "env" and drift.detail([], []) == ""
    assert drift.deleted("the job") == "drift: the job was deleted outside multicloud"


def test_job_description_carries_its_record() -> None:
    base = "managed-by=multicloud service=shop function=nightly (cron 0 3 * * *)"
    assert drift.job_record(drift.job_description(base, "1abc")) == (base, "1abc")
    assert drift.job_record(base) == (base, None)


@pytest.fixture(scope="module")
def shop() -> Project:
    return Project.load(SERVICE)


def test_the_function_record_is_a_valid_label_and_ignores_the_source(shop: Project) -> None:
    settings = settings_of(shop)
    for cf in cloud_functions(shop):
        one = desired_function(cf, settings, "p", LOC, "a" * 64)["labels"]
        other = desired_function(cf, settings, "p", LOC, "b" * 64)["labels"]
        assert re.fullmatch(r"[a-z0-9_-]{0,63}", one[drift.RECORD_LABEL])
        assert drift.decode(FUNCTION_RECORD_FIELDS, one[drift.RECORD_LABEL]) is not None
        assert one[drift.RECORD_LABEL] == other[drift.RECORD_LABEL]  # code changes are the source label's job


def test_the_function_record_follows_the_spec(shop: Project) -> None:
    settings = settings_of(shop)
    api = next(cf for cf in cloud_functions(shop) if cf.function == "api")
    before = drift.decode(FUNCTION_RECORD_FIELDS, desired_function(api, settings, "p", LOC, "")["labels"][
        drift.RECORD_LABEL]) or {}
    changed = type(api)(**{**api.__dict__, "env": {"GREETING": "bonjour"}, "public": False})
    after = drift.decode(FUNCTION_RECORD_FIELDS, desired_function(changed, settings, "p", LOC, "")["labels"][
        drift.RECORD_LABEL]) or {}
    assert [f for f in FUNCTION_RECORD_FIELDS if before[f] != after[f]] == [
        "service_config.environment_variables", "invokers"]


def test_the_job_record_does_not_depend_on_the_function_url(shop: Project) -> None:
    settings = settings_of(shop)
    for cf in cloud_functions(shop):
        for sched in cf.schedules:
            one = desired_job(cf, sched, settings, LOC, shop.name, "https://one.example")
            two = desired_job(cf, sched, settings, LOC, shop.name, "")
            assert one["description"] == two["description"]
            assert drift.decode(JOB_MASK_FIELDS, drift.job_record(one["description"])[1]) is not None
