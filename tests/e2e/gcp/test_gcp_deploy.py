"""The deploy sequence against a FAKE of the Google REST APIs (fake_gcp.py: a labelled stand-in, not Google).

Real: google-cloud-functions and google-cloud-scheduler clients with their REST transport, the upload
of the built zip, the operation polling, requests-based Cloud Run IAM and Logging calls. Checked: what
arrives at the API (paths, bodies, update masks), idempotence, ownership and error translation.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile

import pytest
from fake_gcp import ApiError, FakeGoogleCloud
from gcp_e2e_kit import SHOP_API_RUNTIME_ENV, Deployment, open_fake

from multicloud.errors import OperationError, SpecError
from multicloud.providers.gcp.clients import APIS

LOC = "projects/shop-test-1/locations/europe-west1"


def fn(fake: FakeGoogleCloud, fid: str) -> dict:  # type: ignore[type-arg]
    return fake.functions[f"{LOC}/functions/{fid}"]


def test_first_deploy_creates_functions_triggers_jobs_and_iam(fake: FakeGoogleCloud, shop: Deployment) -> None:
    result = shop.deploy()
    assert result.changed
    assert sorted(f.rsplit("/", 1)[1] for f in fake.functions) == [
        "shop-api", "shop-class", "shop-nightly", "shop-orders", "shop-uploads", "shop-uploads-gone"]
    api = fn(fake, "shop-api")
    assert api["buildConfig"]["entryPoint"] == "api" and api["buildConfig"]["runtime"] == "python311"
    assert api["serviceConfig"]["environmentVariables"] == {"GREETING": "hello", **SHOP_API_RUNTIME_ENV}
    assert api["serviceConfig"]["secretEnvironmentVariables"] == [
        {"key": "API_KEY", "projectId": "shop-test-1", "secret": "api-key", "version": "latest"},
        {"key": "DB_PASSWORD", "projectId": "vault-project", "secret": "db-password", "version": "3"}]
    assert api["serviceConfig"]["availableMemory"] == "512Mi" and api["serviceConfig"]["timeoutSeconds"] == 60
    assert api["labels"]["managed-by"] == "multicloud" and api["labels"]["team"] == "payments"
    uploads = fn(fake, "shop-uploads")["eventTrigger"]
    assert uploads["eventType"] == "google.cloud.storage.object.v1.finalized"
    assert uploads["eventFilters"] == [{"attribute": "bucket", "value": "shop-uploads"}]
    assert uploads["serviceAccountEmail"] == "invoker@shop-test-1.iam.gserviceaccount.com"
    assert fn(fake, "shop-uploads-gone")["eventTrigger"]["eventType"] == "google.cloud.storage.object.v1.deleted"
    orders = fn(fake, "shop-orders")["eventTrigger"]
    assert orders["pubsubTopic"] == "projects/shop-test-1/topics/orders"
    assert "eventTrigger" not in api and "eventTrigger" not in fn(fake, "shop-nightly")
    # the zip the platform received is the one we built
    obj = api["buildConfig"]["source"]["storageSource"]["object"]
    built = shop.root / ".multicloud" / "build" / "gcp" / "source.zip"
    assert fake.uploads[obj] == built.read_bytes()
    assert "main.py" in zipfile.ZipFile(io.BytesIO(fake.uploads[obj])).namelist()
    # invokers: public HTTP function -> allUsers; private ones -> the invoker identity only
    invoker = "roles/run.invoker"
    assert fake.policies[f"{LOC}/services/shop-api"]["bindings"] == [{"role": invoker, "members": ["allUsers"]}]
    assert fake.policies[f"{LOC}/services/shop-nightly"]["bindings"] == [
        {"role": invoker, "members": ["serviceAccount:invoker@shop-test-1.iam.gserviceaccount.com"]}]
    # schedules: Scheduler jobs POSTing the schedule CloudEvent to the URL, OIDC only for the private one
    nightly = fake.jobs[f"{LOC}/jobs/shop-nightly-0"]
    assert nightly["schedule"] == "0 3 * * *" and nightly["timeZone"] == "Etc/UTC"
    assert nightly["attemptDeadline"] == "30s" and fake.jobs[f"{LOC}/jobs/shop-api-0"]["attemptDeadline"] == "60s"
    target = nightly["httpTarget"]
    assert target["uri"] == fn(fake, "shop-nightly")["serviceConfig"]["uri"]
    assert target["oidcToken"]["serviceAccountEmail"] == "invoker@shop-test-1.iam.gserviceaccount.com"
    assert json.loads(base64.b64decode(target["body"]))["source"].endswith("/jobs/shop-nightly-0")
    api_job = fake.jobs[f"{LOC}/jobs/shop-api-0"]
    assert api_job["schedule"] == "*/15 * * * *" and "oidcToken" not in api_job["httpTarget"]
    assert [e.url for e in result.endpoints] == [api["serviceConfig"]["uri"]]


def test_redeploy_of_unchanged_spec_and_code_touches_nothing(fake: FakeGoogleCloud, shop: Deployment) -> None:
    shop.deploy()
    before = len(fake.mutations())
    again = shop.deploy()
    assert not again.changed
    assert fake.mutations()[before:] == []
    plan = shop.provider.plan(shop.build())
    assert not plan.has_changes and {c.action for c in plan.changes} == {"noop"}


def test_plan_reads_only(fake: FakeGoogleCloud, shop: Deployment) -> None:
    plan = shop.provider.plan(shop.build())
    assert fake.mutations() == []
    # every function write first (their builds run concurrently), then each function's invokers and jobs
    creates = [c.resource for c in plan.changes if c.action == "create"]
    assert creates[:7] == ["function shop-api", "function shop-uploads", "function shop-uploads-gone",
                           "function shop-orders", "function shop-nightly", "function shop-class",
                           "iam invokers shop-api"] and creates[7] == "scheduler job shop-api-0", creates


def test_env_change_patches_only_that_field(fake: FakeGoogleCloud, shop: Deployment) -> None:
    shop.deploy()
    before = len(fake.mutations())
    shop.edit("GREETING: hello", "GREETING: bonjour")
    assert shop.deploy().changed
    new = fake.mutations()[before:]
    # the drift record label (see test_gcp_drift.py) changes with the field, in the same PATCH
    assert [(m, p.rsplit("/", 1)[1], q["updateMask"]) for m, p, q in new] == [
        ("PATCH", "shop-api", ["labels,serviceConfig.environmentVariables"])]
    env = fn(fake, "shop-api")["serviceConfig"]["environmentVariables"]
    assert env == {"GREETING": "bonjour", **SHOP_API_RUNTIME_ENV}


def test_code_change_uploads_once_per_function_and_patches_source(fake: FakeGoogleCloud, shop: Deployment) -> None:
    shop.deploy()
    before = len(fake.mutations())
    shop.edit('SEEN = []', 'SEEN = []  # v2', file="gcp_shop_handlers.py")
    shop.deploy()
    new = fake.mutations()[before:]
    patches = [q["updateMask"][0].split(",") for m, _p, q in new if m == "PATCH"]
    assert len(patches) == 6 and all(sorted(p) == ["buildConfig.source", "labels"] for p in patches)
    assert sum(1 for m, p, _q in new if m == "PUT" and p.startswith("/upload/")) == 6


def test_schedule_and_trigger_changes_update_in_place(fake: FakeGoogleCloud, shop: Deployment) -> None:
    shop.deploy()
    before = len(fake.mutations())
    shop.edit('cron: "0 3 * * *"', 'cron: "30 4 * * *"')
    shop.edit("queue: {name: orders}", "queue: {name: orders-v2}")
    plan = shop.provider.plan(shop.build())
    assert {(c.action, c.resource) for c in plan.changes if c.action != "noop"} == {
        ("update", "function shop-orders"), ("update", "scheduler job shop-nightly-0"),
        # the dead letters follow the topic (Pub/Sub, on the emulator)
        ("create", "pubsub topic orders-v2-dlq"), ("create", "pubsub subscription orders-v2-dlq"),
        ("update", "pubsub dead-letter policy shop-orders"),
        ("delete", "pubsub topic orders-dlq"), ("delete", "pubsub subscription orders-dlq")}
    shop.deploy()
    new = [(m, p.rsplit("/", 1)[1], q.get("updateMask")) for m, p, q in fake.mutations()[before:]]
    assert ("PATCH", "shop-orders", ["labels,eventTrigger"]) in new  # with the drift record label
    assert ("PATCH", "shop-nightly-0", ["description,schedule"]) in new  # the description names the cron
    assert len(new) == 2
    assert fake.jobs[f"{LOC}/jobs/shop-nightly-0"]["schedule"] == "30 4 * * *"
    assert fn(fake, "shop-orders")["eventTrigger"]["pubsubTopic"] == "projects/shop-test-1/topics/orders-v2"


def test_switching_between_http_and_event_trigger_replaces_the_function(fake: FakeGoogleCloud,
                                                                        shop: Deployment) -> None:
    shop.deploy()
    shop.edit("      - queue: {name: orders}\n", "      - http: {path: /orders}\n")
    plan = shop.provider.plan(shop.build())
    change = next(c for c in plan.changes if c.resource == "function shop-orders")
    assert change.action == "update" and change.detail.startswith("replace")
    before = len(fake.mutations())
    shop.deploy()
    orders = [(m, p.rsplit("/", 1)[1]) for m, p, _q in fake.mutations()[before:] if "shop-orders" in p or
              ("functionId" in _q and _q["functionId"] == ["shop-orders"])]
    assert orders[0] == ("DELETE", "shop-orders") and orders[1] == ("POST", "functions")
    assert "eventTrigger" not in fn(fake, "shop-orders")


def test_functions_and_jobs_dropped_from_the_spec_are_deleted(fake: FakeGoogleCloud, shop: Deployment) -> None:
    shop.deploy()
    shop.edit("  nightly:\n    handler: gcp_shop_handlers.on_schedule\n    triggers:\n"
              "      - schedule: {cron: \"0 3 * * *\"}\n", "")
    plan = shop.provider.plan(shop.build())
    assert {(c.action, c.resource) for c in plan.changes if c.action == "delete"} == {
        ("delete", "function shop-nightly"), ("delete", "scheduler job shop-nightly-0")}
    shop.deploy()
    assert f"{LOC}/functions/shop-nightly" not in fake.functions and f"{LOC}/jobs/shop-nightly-0" not in fake.jobs
    assert f"{LOC}/jobs/shop-api-0" in fake.jobs


def test_remove_deletes_only_what_this_service_owns(fake: FakeGoogleCloud, shop: Deployment) -> None:
    fake.functions[f"{LOC}/functions/other-app"] = {"name": f"{LOC}/functions/other-app", "labels": {}}
    shop.deploy()
    removed = shop.provider.remove()
    assert len(removed.removed) == 10  # 2 jobs, 6 functions, the dead-letter topic and its subscription
    assert list(fake.functions) == [f"{LOC}/functions/other-app"] and fake.jobs == {}
    assert not (shop.root / ".multicloud" / "state" / "gcp.json").exists()
    status = shop.provider.status()
    assert not status.deployed and {f.state for f in status.functions} == {"missing"}
    shop.deploy()
    shop.edit("      - queue: {name: orders}\n", "      - queue: {name: orders}\n      - http: {path: /o}\n")
    assert len(shop.provider.remove().removed) == 10  # a spec gcp can no longer map is still removable


def test_a_foreign_function_with_our_name_is_never_overwritten(fake: FakeGoogleCloud, shop: Deployment) -> None:
    fake.functions[f"{LOC}/functions/shop-class"] = {"name": f"{LOC}/functions/shop-class", "labels": {"team": "x"}}
    with pytest.raises(OperationError) as info:
        shop.deploy()
    assert "not managed by multicloud" in info.value.what and info.value.fix and info.value.exit_code == 1
    assert fake.mutations() == []  # every function is read before anything changes
    assert fake.functions[f"{LOC}/functions/shop-class"]["labels"] == {"team": "x"}


def test_status_reports_state_version_and_url(fake: FakeGoogleCloud, shop: Deployment) -> None:
    result = shop.deploy()
    status = shop.provider.status()
    assert status.deployed and {f.state for f in status.functions} == {"active"}
    api = next(f for f in status.functions if f.function == "api")
    assert api.endpoint == result.endpoints[0].url and api.version and result.version.startswith(api.version[:12])


@pytest.mark.parametrize("code, status, kind, needle", [
    (403, "PERMISSION_DENIED", "PERMISSION_DENIED (HTTP 403)", "roles/cloudfunctions.developer"),
    (409, "ALREADY_EXISTS", "ALREADY_EXISTS (HTTP 409)", "wait and retry"),
    (400, "FAILED_PRECONDITION", "FAILED_PRECONDITION (HTTP 400)", "gcloud services enable"),
    (429, "RESOURCE_EXHAUSTED", "RESOURCE_EXHAUSTED (HTTP 429)", "quota"),
    (500, "INTERNAL", "INTERNAL (HTTP 500)", "see the message from Google"),
])
def test_google_errors_become_clear_messages_with_a_fix(fake: FakeGoogleCloud, shop: Deployment, code: int,
                                                        status: str, kind: str, needle: str) -> None:
    fake.fail_next.append((rf"POST /v2/{LOC}/functions", ApiError(code, status, "Google says no")))
    with pytest.raises(OperationError) as info:
        shop.deploy()
    err = info.value
    assert kind in err.what and "Google says no" in err.what and needle in (err.fix or "")
    assert isinstance(err.__cause__, Exception) and err.exit_code == 1


def test_a_failed_build_is_reported_and_retried_on_the_next_deploy(fake: FakeGoogleCloud, shop: Deployment) -> None:
    fake.build_failures.append("Build failed: pip could not find humanize==4.9.0; logs at https://console/build/1")
    with pytest.raises(OperationError) as info:
        shop.deploy()
    assert "pip could not find humanize" in info.value.what and info.value.fix
    assert fn(fake, "shop-api")["state"] == "FAILED"
    status = {f.function: f for f in shop.provider.status().functions}
    assert status["api"].state == "failed" and "pip could not find" in status["api"].detail
    shop.deploy()  # same code: a FAILED function gets its source again
    assert fn(fake, "shop-api")["state"] == "ACTIVE"


def test_an_unreachable_endpoint_is_a_clear_error(shop: Deployment, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeGoogleCloud() as gone:
        url = gone.url
    for api, _default in APIS.values():
        monkeypatch.setenv(f"CLOUDSDK_API_ENDPOINT_OVERRIDES_{api}", url)
    with pytest.raises(OperationError) as info:
        shop.provider.status()
    assert "CLOUDSDK_API_ENDPOINT_OVERRIDES" in (info.value.fix or "")


def test_long_running_operations_are_polled(shop: Deployment, monkeypatch: pytest.MonkeyPatch) -> None:
    shop.edit("targets:\n", "  # only api\ntargets:\n")
    with open_fake(monkeypatch, pending_polls=1) as cloud:
        shop.deploy()
        polls = [p for m, p, _q in cloud.requests if m == "GET" and "/operations/" in p]
        assert len(polls) >= 6 and all(f["state"] == "ACTIVE" for f in cloud.functions.values())
        # all six creates were sent before the first operation was polled: the builds overlap
        kinds = [("create" if m == "POST" and p.endswith("/functions") else "poll" if "/operations/" in p else "")
                 for m, p, _q in cloud.requests]
        assert kinds.index("poll") > max(i for i, k in enumerate(kinds) if k == "create")


def test_project_comes_from_the_standard_variable(fake: FakeGoogleCloud, shop: Deployment,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    shop.edit("    project: shop-test-1\n", "")
    with pytest.raises(SpecError) as info:
        shop.provider.status()
    assert "GOOGLE_CLOUD_PROJECT" in (info.value.fix or "")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "other-proj-9")
    shop.deploy()
    assert all(name.startswith("projects/other-proj-9/") for name in fake.functions)


def test_no_secret_value_lands_in_state_build_or_requests(fake: FakeGoogleCloud, shop: Deployment) -> None:
    shop.deploy()
    state = (shop.root / ".multicloud" / "state" / "gcp.json").read_text()
    files = [p.read_bytes() for p in (shop.root / ".multicloud").rglob("*") if p.is_file()]
    sent = json.dumps(fake.functions) + json.dumps(fake.jobs)
    for value in ("s3cr3t-api-key-value", "s3cr3t-db-password"):
        assert value not in state and value not in sent and all(value.encode() not in f for f in files)
