"""Drift on gcp, against the labelled FAKE of the Google REST APIs (fake_gcp.py; not Google).

Changes are made by hand the way an operator's tool would: the real google-cloud-functions and
google-cloud-scheduler clients (REST transport) and a plain Cloud Run IAM call, pointed at the fake.
`plan` must then say `drift: ... outside multicloud` for each (names only, never values), write nothing,
and tell a spec change apart; `deploy` repairs everything and the next plan is all noop.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from fake_gcp import FakeGoogleCloud
from gcp_e2e_kit import SHOP_API_RUNTIME_ENV, Deployment

from multicloud.provider import Plan

LOC = "projects/shop-test-1/locations/europe-west1"
EDITED = "edited-by-hand-value"


class Operator:
    """Somebody changing the deployment by hand, with Google's own clients."""

    def __init__(self, fake: FakeGoogleCloud) -> None:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import functions_v2, scheduler_v1

        creds = AnonymousCredentials()  # type: ignore[no-untyped-call]
        self.fake = fake
        self.functions = functions_v2.FunctionServiceClient(
            transport="rest", credentials=creds, client_options={"api_endpoint": fake.url})
        self.scheduler = scheduler_v1.CloudSchedulerClient(
            transport="rest", credentials=creds, client_options={"api_endpoint": fake.url})

    def patch_function(self, fid: str, mask: list[str], **fields: Any) -> None:
        from google.cloud import functions_v2
        from google.protobuf import field_mask_pb2

        fn = functions_v2.Function(name=f"{LOC}/functions/{fid}", **fields)
        self.functions.update_function(function=fn, update_mask=field_mask_pb2.FieldMask(paths=mask)).result()

    def delete_function(self, fid: str) -> None:
        self.functions.delete_function(name=f"{LOC}/functions/{fid}").result()

    def remove_all_users(self, fid: str) -> None:
        url = f"{self.fake.url}/v2/{LOC}/services/{fid}"
        policy = requests.get(f"{url}:getIamPolicy", timeout=10).json()
        policy["bindings"] = [{**b, "members": [m for m in b["members"] if m != "allUsers"]}
                              for b in policy["bindings"]]
        requests.post(f"{url}:setIamPolicy", json={"policy": policy}, timeout=10).raise_for_status()


@pytest.fixture
def operator(fake: FakeGoogleCloud) -> Iterator[Operator]:
    yield Operator(fake)


def lines(plan: Plan) -> dict[str, tuple[str, str]]:
    return {c.resource: (c.action, c.detail) for c in plan.changes if c.action != "noop"}


def fresh_checkout(shop: Deployment, tmp_path: Path) -> Deployment:
    """Another runner's clone: the spec and code, no `.multicloud/`."""
    dest = tmp_path / "fresh"
    shutil.copytree(shop.root, dest, ignore=shutil.ignore_patterns(".multicloud", "__pycache__"))
    return Deployment(dest)


def test_changes_made_by_hand_are_drift_and_deploy_repairs_them(fake: FakeGoogleCloud, shop: Deployment,
                                                                operator: Operator, tmp_path: Path) -> None:
    shop.deploy()
    operator.patch_function("shop-api", ["service_config.environment_variables", "service_config.available_memory"],
                            service_config={"environment_variables": {"GREETING": EDITED},
                                            "available_memory": "1Gi"})
    operator.remove_all_users("shop-api")
    operator.scheduler.pause_job(name=f"{LOC}/jobs/shop-api-0")
    operator.scheduler.delete_job(name=f"{LOC}/jobs/shop-nightly-0")
    operator.delete_function("shop-class")
    assert fake.jobs[f"{LOC}/jobs/shop-api-0"]["state"] == "PAUSED"

    before = len(fake.mutations())
    plan = shop.provider.plan(shop.build())
    assert fake.mutations()[before:] == []  # plan makes no write call
    expected = {
        "function shop-api": ("update", "drift: service_config.available_memory, "
                                        "service_config.environment_variables changed outside multicloud"),
        "iam invokers shop-api": ("update", "drift: roles/run.invoker members changed outside multicloud"),
        "scheduler job shop-api-0": ("update", "drift: state (paused) changed outside multicloud"),
        "scheduler job shop-nightly-0": ("create", "drift: the job was deleted outside multicloud"),
        "function shop-class": ("create", "drift: the function was deleted outside multicloud"),
        # the re-created function's new Cloud Run service gets its invokers: a write, so a step of the plan
        "iam invokers shop-class": ("create", ""),
    }
    assert lines(plan) == expected
    # names and fingerprints only: no environment value, no secret reference or value
    assert EDITED not in repr(plan) and "hello" not in repr(plan)
    assert not any(word in repr(plan) for word in ("api-key", "db-password", "s3cr3t"))

    # a checkout without `.multicloud/` reads the same record from the labels and job descriptions; only a
    # deleted function, whose labels went with it, is known from the local cache alone
    fresh = fresh_checkout(shop, tmp_path)
    assert lines(fresh.provider.plan(fresh.build())) == {**expected, "function shop-class": ("create", "")}

    progress: list[str] = []
    provider = shop.provider
    assert provider.deploy(provider.build(shop.root / ".multicloud" / "build" / "gcp"), progress.append).changed
    assert any("resuming scheduler job shop-api-0" in p for p in progress)
    api = fake.functions[f"{LOC}/functions/shop-api"]["serviceConfig"]
    assert api["environmentVariables"] == {"GREETING": "hello", **SHOP_API_RUNTIME_ENV}
    assert api["availableMemory"] == "512Mi"
    assert fake.jobs[f"{LOC}/jobs/shop-api-0"]["state"] == "ENABLED"
    assert f"{LOC}/jobs/shop-nightly-0" in fake.jobs and f"{LOC}/functions/shop-class" in fake.functions
    assert fake.policies[f"{LOC}/services/shop-api"]["bindings"] == [
        {"role": "roles/run.invoker", "members": ["allUsers"]}]

    for checkout in (shop, fresh):
        assert lines(checkout.provider.plan(checkout.build())) == {}
    before = len(fake.mutations())
    assert not shop.deploy().changed and not fresh.deploy().changed
    assert fake.mutations()[before:] == []  # the record is written only when it changes


def test_a_spec_change_stays_plain_beside_a_change_made_by_hand(fake: FakeGoogleCloud, shop: Deployment,
                                                                operator: Operator) -> None:
    shop.deploy()
    operator.patch_function("shop-api", ["service_config.available_memory"],
                            service_config={"available_memory": "1Gi"})
    job = operator.scheduler.get_job(name=f"{LOC}/jobs/shop-api-0")
    job.schedule = "*/5 * * * *"
    from google.protobuf import field_mask_pb2

    operator.scheduler.update_job(job=job, update_mask=field_mask_pb2.FieldMask(paths=["schedule"]))
    shop.edit("GREETING: hello", "GREETING: bonjour")
    shop.edit('cron: "0 3 * * *"', 'cron: "30 4 * * *"')
    shop.edit("queue: {name: orders}", "queue: {name: orders-v2}")
    plan = lines(shop.provider.plan(shop.build()))
    assert plan == {
        # the spec changed the env (and so the record label); memory was changed by hand
        "function shop-api": ("update", "service_config.environment_variables, labels; "
                                        "drift: service_config.available_memory changed outside multicloud"),
        "scheduler job shop-api-0": ("update", "drift: schedule changed outside multicloud"),
        "function shop-orders": ("update", "event_trigger, labels"),
        "scheduler job shop-nightly-0": ("update", "description, schedule"),
        # the topic's dead letters follow it (spec changes: plain)
        "pubsub topic orders-v2-dlq": ("create", ""),
        "pubsub subscription orders-v2-dlq": ("create", "holds the dead letters"),
        "pubsub dead-letter policy shop-orders": ("update", "max delivery attempts 5"),
        "pubsub topic orders-dlq": ("delete", "not in the spec"),
        "pubsub subscription orders-dlq": ("delete", "not in the spec"),
    }
    shop.deploy()
    assert lines(shop.provider.plan(shop.build())) == {}
    assert fake.jobs[f"{LOC}/jobs/shop-api-0"]["schedule"] == "*/15 * * * *"


def test_a_deployment_made_before_records_gets_one_without_any_drift(fake: FakeGoogleCloud, shop: Deployment,
                                                                      operator: Operator) -> None:
    shop.deploy()
    for fn in fake.functions.values():  # as an older multicloud left them: no record anywhere
        fn["labels"] = {k: v for k, v in fn["labels"].items() if not k.startswith("multicloud-record")}
    for job in fake.jobs.values():
        job["description"] = job["description"].partition(" record=")[0]
    (shop.root / ".multicloud" / "state" / "gcp.json").unlink()
    operator.patch_function("shop-api", ["service_config.available_memory"],
                            service_config={"available_memory": "1Gi"})
    plan = lines(shop.provider.plan(shop.build()))
    assert plan["function shop-api"] == ("update", "service_config.available_memory, labels")
    assert plan["scheduler job shop-api-0"] == ("update", "description")
    assert not any("drift" in detail for _action, detail in plan.values())
    shop.deploy()
    assert lines(shop.provider.plan(shop.build())) == {}
