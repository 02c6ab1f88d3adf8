"""Deploy, redeploy, status, logs and remove against a FAKE of ARM and the SCM site (fake_azure.py).

The fake is not Azure: it checks the paths, api-versions, bearer tokens and body fields that Azure's REST
reference documents for the calls the provider makes, and answers in the documented shapes. What this
proves is the provider's sequence through the real SDK clients (azure-mgmt-resource/storage/web/
eventhub, azure-core's ARM polling and pipeline), its idempotence and its ownership rules.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from fake_azure import SUBSCRIPTION, FakeAzure, StaticToken

from multicloud.errors import OperationError, UnsupportedError
from multicloud.project import Project
from multicloud.providers.azure import AzureProvider


def provider(spec: Path) -> AzureProvider:
    return AzureProvider(Project.load(spec), credential=StaticToken())


def test_first_deploy_creates_everything_then_redeploy_is_a_noop(fake: FakeAzure, service: Path) -> None:
    prov = provider(service)
    build = prov.build(service.parent / ".multicloud" / "build" / "azure")
    plan = prov.plan(build)
    assert [(c.action, c.resource) for c in plan.changes if c.kind != "storage account"] == [
        ("create", "resource group orders-rg"), ("create", f"blob container {prov.session().deploy_container}"),
        ("create", f"event hubs namespace {prov.session().eventhub_namespace}"), ("create", "event hub clicks"),
        ("create", "consumer group clicks/analytics"), ("create", f"plan {prov.session().plan_name}"),
        ("create", f"function app {prov.session().app_name}"), ("create", "blob container uploads"),
        ("create", "storage queue orders-in"), ("create", "storage queue orders-in-poison"), ("update", "code"),
        ("create", "event grid subscription worker-storage"),
        ("update", f"drift record {prov.session().app_name}")]  # one step per resource, in apply order
    result = prov.deploy(build)
    assert result.changed

    s = prov.session()
    rg = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/orders-rg"
    site = fake.get(f"{rg}/providers/Microsoft.Web/sites/{s.app_name}")
    assert site is not None and site["kind"] == "functionapp,linux"
    assert site["tags"]["multicloud-service"] == "orders" and site["tags"]["multicloud-code"] == build.digest
    fac = site["properties"]["functionAppConfig"]
    assert fac["runtime"] == {"name": "python", "version": "3.11"}
    assert fac["scaleAndConcurrency"]["instanceMemoryMB"] == 2048
    assert fac["deployment"]["storage"]["value"] == f"https://{fake.host}/_blob/{s.storage_account}/{s.deploy_container}"
    plan_doc = fake.get(f"{rg}/providers/Microsoft.Web/serverfarms/{s.plan_name}")
    assert plan_doc is not None and plan_doc["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    ns = f"{rg}/providers/Microsoft.EventHub/namespaces/{s.eventhub_namespace}"
    assert fake.get(f"{ns}/eventhubs/clicks/consumergroups/analytics") is not None

    acct = f"{rg}/providers/Microsoft.Storage/storageAccounts/{s.storage_account}"
    assert fake.get(f"{acct}/blobServices/default/containers/uploads") is not None
    assert fake.get(f"{acct}/queueServices/default/queues/orders-in") is not None
    sub = fake.get(f"{acct}/providers/Microsoft.EventGrid/eventSubscriptions/worker-storage")
    assert sub is not None, "Flex blob triggers need an Event Grid subscription"
    prefix = "/blobServices/default/containers/uploads/blobs/incoming/"
    assert sub["properties"]["filter"]["subjectBeginsWith"] == prefix
    assert sub["properties"]["filter"]["subjectEndsWith"] == ".csv"
    assert "functionName=Host.Functions.worker-storage&code=fake-blobs-key" in \
        sub["properties"]["destination"]["properties"]["endpointUrl"]

    settings = fake.app_settings[site["id"].lower()]
    assert settings["API_KEY"] == "@Microsoft.KeyVault(SecretUri=https://orders-kv.vault.azure.net/secrets/api-key)"
    assert settings["GREETING"] == "hello"
    assert settings["CLICKS_HUB"].startswith("Endpoint=sb://")
    assert "AccountKey=FAKEKEY1" in settings["AzureWebJobsStorage"]
    assert "FUNCTIONS_WORKER_RUNTIME" not in settings  # Flex rejects it
    with zipfile.ZipFile(build.artifacts[0].path) as zf:
        assert "function_app.py" in zf.namelist()
    assert fake.published[site["id"].lower()] == build.artifacts[0].path.read_bytes()

    # secret values stay in app settings: not in the result, the plan or the state file
    state = (service.parent / ".multicloud" / "state" / "azure.json").read_text()
    for text in (state, repr(result), repr(plan)):
        assert "FAKEKEY1" not in text and "FAKEEHKEY" not in text

    again = provider(service)
    assert all(c.action == "noop" for c in again.plan(build).changes)
    before = len(fake.requests)
    second = again.deploy(build)
    assert not second.changed
    assert fake.writes(before) == []  # an unchanged redeploy only reads (GETs, the app settings' list action)
    assert [e.url for e in second.endpoints] == [f"https://{fake.host}/orders/{{id}}",
                                                 f"https://{fake.host}/admin/{{rest+}}", f"https://{fake.host}/"]

    report = again.status()
    assert report.deployed and {f.state for f in report.functions} == {"running"}
    assert len(report.functions) == 8
    messages = [r.message for r in again.logs(None, None, False)]
    assert messages[-1] == "Deployment successful."


def test_code_change_publishes_only_code_and_keeps_foreign_settings(fake: FakeAzure, service: Path) -> None:
    prov = provider(service)
    out = service.parent / ".multicloud" / "build" / "azure"
    prov.deploy(prov.build(out))
    site_id = prov.session().site_id().lower()
    fake.app_settings[site_id]["SET_BY_HAND"] = "kept"
    (service.parent / "handler.py").write_text((service.parent / "handler.py").read_text() + "\n# v2\n")
    prov = provider(service)
    build = prov.build(out)
    actions = {c.resource: c.action for c in prov.plan(build).changes}
    assert actions.pop("code") == "update" and set(actions.values()) == {"noop"}
    prov.deploy(build)
    assert fake.published[site_id] == build.artifacts[0].path.read_bytes()

    spec = service.read_text().replace("GREETING: hello", "GREETING: bonjour")
    service.write_text(spec)
    prov = provider(service)
    prov.deploy(prov.build(out))
    assert fake.app_settings[site_id]["GREETING"] == "bonjour"
    assert fake.app_settings[site_id]["SET_BY_HAND"] == "kept"


def test_remove_deletes_only_what_multicloud_created(fake: FakeAzure, service: Path) -> None:
    rg = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/shared-rg"
    fake.arm("PUT", rg, {"api-version": "2025-04-01"}, {"location": "westeurope"})  # the user's group
    other = f"{rg}/providers/Microsoft.Web/serverfarms/someone-elses-plan"
    fake.resources[other.lower()] = {"id": other, "name": "someone-elses-plan", "type": "Microsoft.Web/serverfarms",
                                     "tags": {}, "sku": {"name": "B1"}, "properties": {}}
    service.write_text(service.read_text().replace("  azure:\n", "  azure:\n    resource_group: shared-rg\n"))
    prov = provider(service)
    prov.deploy(prov.build(service.parent / ".multicloud" / "build" / "azure"))
    result = prov.remove()
    assert {r.split(" ")[0] for r in result.removed} == {"function", "plan", "event", "storage"}
    assert "event grid subscription worker-storage" in result.removed
    assert fake.get(rg) is not None and fake.get(other) is not None  # not ours: untouched
    assert not prov.status().deployed


def test_remove_deletes_an_owned_empty_group(fake: FakeAzure, service: Path) -> None:
    prov = provider(service)
    prov.deploy(prov.build(service.parent / ".multicloud" / "build" / "azure"))
    removed = prov.remove().removed
    assert removed[-1] == "resource group orders-rg"
    assert fake.get(f"/subscriptions/{SUBSCRIPTION}/resourceGroups/orders-rg") is None


def test_azure_errors_become_clear_operation_errors(fake: FakeAzure, service: Path) -> None:
    service.write_text(service.read_text().replace("  azure:\n", "  azure:\n    storage_account: Not_Valid\n"))
    prov = provider(service)
    with pytest.raises(OperationError) as info:
        prov.deploy(prov.build(service.parent / ".multicloud" / "build" / "azure"))
    assert "AccountNameInvalid" in info.value.what and "PUT" in str(info.value.where)
    assert info.value.fix


def test_missing_permissions_name_the_role_to_grant(fake: FakeAzure, service: Path) -> None:
    fake.read_only = True
    prov = provider(service)
    with pytest.raises(OperationError) as info:
        prov.deploy(prov.build(service.parent / ".multicloud" / "build" / "azure"))
    assert "403 AuthorizationFailed" in info.value.what
    assert "Contributor" in (info.value.fix or "")


def test_publish_forbidden_names_the_role(fake: FakeAzure, service: Path) -> None:
    fake.scm_forbidden = True
    prov = provider(service)
    with pytest.raises(OperationError, match="one-deploy refused the package: HTTP 403") as info:
        prov.deploy(prov.build(service.parent / ".multicloud" / "build" / "azure"))
    assert "Website Contributor" in (info.value.fix or "")
    with pytest.raises(UnsupportedError, match="Application Insights"):
        list(prov.logs(None, None, True))


def test_failed_publish_is_reported_with_a_fix(fake: FakeAzure, service: Path) -> None:
    prov = provider(service)
    fake.fail_next_publish = True
    with pytest.raises(OperationError, match="failed") as info:
        prov.deploy(prov.build(service.parent / ".multicloud" / "build" / "azure"))
    assert "logs" in (info.value.fix or "")


def test_consumption_plan_runs_from_a_package_url(fake: FakeAzure, service: Path) -> None:
    """Linux Consumption has no one-deploy: blob upload with a write SAS, WEBSITE_RUN_FROM_PACKAGE with a
    read SAS, then syncfunctiontriggers (the fake host loads the package from that URL)."""
    from multicloud.provider import InvokeRequest

    service.write_text(service.read_text().replace("  azure:\n", "  azure:\n    plan: consumption\n"))
    prov = provider(service)
    build = prov.build(service.parent / ".multicloud" / "build" / "azure")
    prov.deploy(build)
    s = prov.session()
    site = fake.get(s.site_id())
    assert site is not None and site["properties"]["siteConfig"]["linuxFxVersion"] == "Python|3.11"
    assert "functionAppConfig" not in site["properties"]
    assert fake.get(s.plan_id())["sku"] == {"name": "Y1", "tier": "Dynamic"}  # type: ignore[index]
    settings = fake.app_settings[s.site_id().lower()]
    assert settings["FUNCTIONS_WORKER_RUNTIME"] == "python" and settings["FUNCTIONS_EXTENSION_VERSION"] == "~4"
    url = settings["WEBSITE_RUN_FROM_PACKAGE"]
    assert f"/{s.deploy_container}/{build.digest}.zip?" in url and "sp=r&" in url
    assert fake.published[s.site_id().lower()] == build.artifacts[0].path.read_bytes()
    assert fake.calls("POST", "/api/publish") == 0
    assert prov.invoke(InvokeRequest("api", path="/orders/7")).status == 200

    service.write_text(service.read_text().replace("GREETING: hello", "GREETING: hi"))  # settings only
    prov = provider(service)
    prov.deploy(prov.build(service.parent / ".multicloud" / "build" / "azure"))
    assert fake.app_settings[s.site_id().lower()]["WEBSITE_RUN_FROM_PACKAGE"] == url  # kept


def test_invoke_http_with_and_without_a_function_key(fake: FakeAzure, service: Path) -> None:
    """HTTP invoke goes to the app's host name; the fake host runs the published package's function_app."""
    from multicloud.provider import InvokeRequest

    prov = provider(service)
    prov.deploy(prov.build(service.parent / ".multicloud" / "build" / "azure"))
    result = prov.invoke(InvokeRequest("api", path="/orders/42", method="POST", body=b"hi",
                                       query={"q": ["1"]}))
    assert result.ok and result.status == 200
    assert json.loads(result.body) == {"kind": "http", "method": "POST", "path": "/orders/42", "params": {"id": "42"},
                                       "query": {"q": ["1"]}, "body": "hi", "function": "api"}
    keyed = prov.invoke(InvokeRequest("api", path="/admin/x/y", method="DELETE"))
    assert keyed.status == 200 and json.loads(keyed.body)["params"] == {"rest": "x/y"}
    assert fake.calls("POST", "/host/default/listkeys") >= 1


def test_invoke_non_http_functions_through_the_admin_endpoint(fake: FakeAzure, service: Path) -> None:
    import sys

    from multicloud.provider import InvokeRequest

    prov = provider(service)
    prov.deploy(prov.build(service.parent / ".multicloud" / "build" / "azure"))
    assert prov.invoke(InvokeRequest("worker", trigger="queue", body=b'{"order": 1}')).ok
    assert prov.invoke(InvokeRequest("nightly", trigger="schedule")).ok
    calls = sys.modules["handler"].CALLS
    assert [c["kind"] for c in calls[-2:]] == ["queue", "schedule"]
    assert calls[-2]["bodies"] == ['{"order": 1}']


@pytest.mark.slow
def test_invoke_stream_reports_an_unreachable_hub_clearly(fake: FakeAzure, service: Path) -> None:
    """No Event Hubs endpoint exists here: the producer really tries, and the failure is a clear error."""
    from multicloud.provider import InvokeRequest
    from multicloud.providers.azure.invoke import event_bodies

    assert event_bodies(InvokeRequest("worker", trigger="stream", event={"records": [{"a": 1}, "x"]})) == \
        [b'{"a": 1}', b"x"]
    prov = provider(service)
    prov.deploy(prov.build(service.parent / ".multicloud" / "build" / "azure"))
    site_id = prov.session().site_id().lower()
    fake.app_settings[site_id]["CLICKS_HUB"] = (
        "Endpoint=sb://127.0.0.1:9/;SharedAccessKeyName=k;SharedAccessKey=s2VjcmV0;EntityPath=clicks")
    with pytest.raises(OperationError, match="sending 1 events to hub clicks failed"):
        prov.invoke(InvokeRequest("worker", trigger="stream", event={"click": 1}))


def test_rollback_republishes_the_previous_package(fake: FakeAzure, service: Path) -> None:
    out = service.parent / ".multicloud" / "build" / "azure"
    prov = provider(service)
    prov.deploy(prov.build(out))
    with pytest.raises(OperationError, match="no previous release"):
        prov.rollback()  # a first deploy has nothing to go back to
    first = (out / "app.zip").read_bytes()
    first_digest = json.loads((out / "build.json").read_text())["digest"]
    (service.parent / "handler.py").write_text((service.parent / "handler.py").read_text() + "\n# v2\n")
    prov = provider(service)
    second = prov.build(out)
    prov.deploy(second)
    site_id = prov.session().site_id()
    assert fake.published[site_id.lower()] == second.artifacts[0].path.read_bytes()
    service.write_text(service.read_text().replace("GREETING: hello", "GREETING: hi"))  # rewrites the site
    prov = provider(service)
    prov.deploy(prov.build(out))
    tags = fake.get(site_id)["tags"]  # type: ignore[index]
    assert (tags["multicloud-code"], tags["multicloud-previous"]) == (second.digest, first_digest)

    back = provider(service).rollback()
    assert fake.published[site_id.lower()] == first
    assert fake.get(site_id)["tags"]["multicloud-code"].startswith(back.version)  # type: ignore[index]
    forward = provider(service).rollback()  # rolling back a rollback returns to the newer package
    assert forward.version == second.digest[:12]
    assert fake.published[site_id.lower()] == second.artifacts[0].path.read_bytes()
