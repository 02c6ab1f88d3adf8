"""Desired Cloud Functions / Scheduler resources and the diff that decides update masks.

The round-trip tests push each desired dict through the real SDK types (proto-plus `Function` / `Job`, and
their JSON form as the REST transport sends it) and back: an unchanged spec must diff to nothing, so
idempotence does not depend on how the fake stores things.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from google.cloud import functions_v2, scheduler_v1

from multicloud.project import Project
from multicloud.providers.gcp.clients import to_dict
from multicloud.providers.gcp.model import cloud_functions, settings_of
from multicloud.providers.gcp.resources import (
    JOB_MASK_FIELDS,
    MASK_FIELDS,
    changed_fields,
    desired_function,
    desired_job,
    memory_bytes,
)
from multicloud.providers.gcp.settings import GcpSettings

LOC = "projects/p-123456/locations/europe-west1"


@pytest.fixture
def project(service_dir: Path) -> Project:
    return Project.load(service_dir)


def _roundtrip_function(want: dict) -> dict:  # type: ignore[type-arg]
    wire = functions_v2.Function.to_json(functions_v2.Function(want))
    return to_dict(functions_v2.Function.from_json(wire))


def test_unchanged_functions_diff_to_nothing_after_an_sdk_round_trip(project: Project) -> None:
    settings = settings_of(project)
    for cf in cloud_functions(project):
        want = desired_function(cf, settings, "p-123456", LOC, "ab" * 32)
        assert changed_fields(want, _roundtrip_function(want), MASK_FIELDS) == [], cf.function_id


def test_unchanged_jobs_diff_to_nothing_after_an_sdk_round_trip(project: Project) -> None:
    settings = settings_of(project)
    for cf in cloud_functions(project):
        for sched in cf.schedules:
            want = desired_job(cf, sched, settings, LOC, project.name, "https://fn.run.app")
            wire = scheduler_v1.Job.to_json(scheduler_v1.Job(want))
            assert changed_fields(want, to_dict(scheduler_v1.Job.from_json(wire)), JOB_MASK_FIELDS) == []


def test_platform_defaults_are_not_changes(project: Project) -> None:
    cf = next(c for c in cloud_functions(project) if c.function == "uploads")
    want = desired_function(cf, settings_of(project), "p-123456", LOC, "0" * 64)
    current = _roundtrip_function(want)
    current["service_config"].update(max_instance_count=100, service_account_email="123-compute@x", uri="https://u")
    current["event_trigger"].update(trigger="projects/p/locations/r/triggers/t", service="x")
    assert changed_fields(want, current, MASK_FIELDS) == []


def test_each_kind_of_drift_lands_in_its_own_mask_path(project: Project) -> None:
    cf = next(c for c in cloud_functions(project) if c.function == "api")
    want = desired_function(cf, settings_of(project), "p-123456", LOC, "0" * 64)
    current = _roundtrip_function(want)
    current["service_config"]["environment_variables"]["EXTRA"] = "1"
    current["service_config"]["secret_environment_variables"][0]["version"] = "7"
    current["service_config"]["available_memory"] = "256Mi"
    current["labels"]["team"] = "other"
    assert changed_fields(want, current, MASK_FIELDS) == [
        "labels", "service_config.available_memory", "service_config.environment_variables",
        "service_config.secret_environment_variables"]


@pytest.mark.parametrize("text, expected", [("512Mi", 512 * 2**20), ("1Gi", 2**30), ("256M", 256 * 10**6),
                                            ("1G", 10**9), ("536870912", 2**29), ("", None)])
def test_memory_units(text: str, expected: int | None) -> None:
    assert memory_bytes(text) == expected


@pytest.mark.parametrize("memory, concurrency, cpu", [(256, 1, None), (256, 8, "1"), (4096, 1, "1"),
                                                       (8192, 1, "2"), (16384, 1, "4"), (32768, 1, "8")])
def test_cpu_follows_memory_tier_and_concurrency(project: Project, memory: int, concurrency: int,
                                                 cpu: str | None) -> None:
    from dataclasses import replace

    cf = replace(cloud_functions(project)[0], memory_mb=memory)
    want = desired_function(cf, GcpSettings(concurrency=concurrency), "p", LOC, "0" * 64)
    assert want["service_config"].get("available_cpu") == cpu
    assert want["service_config"]["max_instance_request_concurrency"] == concurrency


def test_settings_map_to_ingress_identity_scaling_and_retries(project: Project) -> None:
    settings = GcpSettings(ingress="internal_and_gclb", service_account="run@p-1.iam.gserviceaccount.com",
                           max_instances=5, min_instances=1, retry_events=True, trigger_region="eu")
    cf = next(c for c in cloud_functions(project) if c.function == "orders")
    sc = desired_function(cf, settings, "p-1", LOC, "0" * 64)
    assert sc["service_config"]["ingress_settings"] == "ALLOW_INTERNAL_AND_GCLB"
    assert sc["service_config"]["service_account_email"] == "run@p-1.iam.gserviceaccount.com"
    assert (sc["service_config"]["max_instance_count"], sc["service_config"]["min_instance_count"]) == (5, 1)
    assert sc["event_trigger"]["retry_policy"] == "RETRY_POLICY_RETRY"
    assert sc["event_trigger"]["trigger_region"] == "eu"
    assert json.dumps(sc)  # plain data all the way down
