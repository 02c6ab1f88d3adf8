"""Drift on azure: changes made by hand show in `plan` as `drift: ...`, `deploy` repairs them, and the plan
after it is all noop. Against the labelled FAKE of ARM (fake_azure.py; not Azure); the hand changes go
through the real management SDKs (azure-mgmt-web/storage/resource), as a script or the portal would make
them. A checkout without `.multicloud/` (another CI runner) sees the same drift: the record is the site's
tags. Plan stays read-only: GETs and the app settings' list action, never a write.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fake_azure import FakeAzure, StaticToken

from multicloud import orchestrate
from multicloud.errors import OperationError
from multicloud.project import Project
from multicloud.provider import Change, no_progress
from multicloud.providers.azure import AzureProvider

pytestmark = pytest.mark.slow


def provider(spec: Path) -> AzureProvider:
    return AzureProvider(Project.load(spec), credential=StaticToken())


def deploy(spec: Path) -> AzureProvider:
    prov = provider(spec)
    prov.deploy(prov.build(spec.parent / ".multicloud" / "build" / "azure"))
    return prov


RECORD = "the connection strings set again"  # the drift record's step after a step that sets app settings


def pending(fake: FakeAzure, spec: Path) -> dict[str, Change]:
    """The plan's changes by kind of resource ("function app", "plan", "code", ...); asserts it wrote nothing."""
    prov = provider(spec)
    build = prov.build(spec.parent / ".multicloud" / "build" / "azure")
    before = len(fake.requests)
    changes = prov.plan(build).changes
    assert fake.writes(before) == [], "plan made a write call"
    return {("code" if c.resource == "code" else c.resource.rsplit(" ", 1)[0]): Change(c.action, c.resource, c.detail)
            for c in changes if c.action != "noop"}  # a plan's steps, in the shape azure's planner still builds


def fresh_checkout(spec: Path, dest: Path) -> Path:
    """Another runner's clone: the spec and code, none of `.multicloud/`."""
    shutil.copytree(spec.parent, dest, ignore=shutil.ignore_patterns(".multicloud", "__pycache__"))
    return dest / spec.name


def test_settings_changed_by_hand_and_a_stopped_app_are_drift(fake: FakeAzure, service: Path, tmp_path: Path) -> None:
    s = deploy(service).session()
    web, rg, app = s.web.web_apps, s.resource_group, s.app_name
    settings = dict(web.list_application_settings(rg, app).properties)
    settings["GREETING"] = "edited by hand"
    settings["AzureWebJobsStorage"] = "DefaultEndpointsProtocol=https;AccountName=other;AccountKey=HANDKEY=="
    del settings["API_KEY"]
    web.update_application_settings(rg, app, {"properties": settings})
    web.stop(rg, app)

    drift = pending(fake, service)
    assert drift == {"function app": Change("update", f"function app {app}", (
        "drift: app settings AzureWebJobsStorage, GREETING changed outside multicloud; app setting API_KEY was "
        "deleted outside multicloud; the function app is Stopped")),
        "drift record": Change("update", f"drift record {app}", RECORD)}
    assert "HANDKEY" not in repr(drift) and "edited by hand" not in repr(drift)  # names only, never values
    assert pending(fake, fresh_checkout(service, tmp_path / "runner-2")) == drift  # the record is on the site

    deploy(service)
    now = fake.app_settings[s.site_id().lower()]
    assert now["GREETING"] == "hello" and now["API_KEY"].startswith("@Microsoft.KeyVault(")
    assert f"AccountName={s.storage_account};" in now["AzureWebJobsStorage"]
    assert fake.get(s.site_id())["properties"]["state"] == "Running"  # type: ignore[index]
    assert pending(fake, service) == {}


def test_site_configuration_and_tags_changed_by_hand_are_drift(fake: FakeAzure, service: Path) -> None:
    s = deploy(service).session()
    web, rg, app = s.web.web_apps, s.resource_group, s.app_name
    flex = web.get(rg, app).function_app_config.as_dict()
    flex["scaleAndConcurrency"]["maximumInstanceCount"] = 7
    web.update(rg, app, {"properties": {"httpsOnly": False, "functionAppConfig": flex}})  # Web Apps - Update
    web.update_configuration(rg, app, {"properties": {"minTlsVersion": "1.0", "ftpsState": "AllAllowed"}})
    s.resources.tags.begin_update_at_scope(s.site_id().lstrip("/"), {
        "operation": "Merge", "properties": {"tags": {"multicloud-service": "someone-else"}}}).result()

    assert pending(fake, service) == {"function app": Change("update", f"function app {app}", (
        "drift: httpsOnly, minTlsVersion, ftpsState, maximum instance count of the function app changed outside "
        "multicloud; tag multicloud-service of the function app changed outside multicloud")),
        "drift record": Change("update", f"drift record {app}", RECORD)}

    deploy(service)
    site = fake.get(s.site_id())
    assert site is not None and site["properties"]["httpsOnly"] is True
    assert site["properties"]["functionAppConfig"]["scaleAndConcurrency"]["maximumInstanceCount"] == 100
    assert site["tags"]["multicloud-service"] == "orders"
    assert fake.site_configs[s.site_id().lower()]["ftpsState"] == "Disabled"
    assert pending(fake, service) == {}


def test_a_spec_change_is_a_plain_update(fake: FakeAzure, service: Path) -> None:
    s = deploy(service).session()
    service.write_text(service.read_text().replace("GREETING: hello", "GREETING: bonjour"))
    drift = pending(fake, service)
    assert list(drift) == ["app settings", "drift record"] and drift["app settings"].action == "update"  # no PUT
    assert "drift" not in drift["app settings"].detail and "GREETING" in drift["app settings"].detail
    deploy(service)
    assert fake.app_settings[s.site_id().lower()]["GREETING"] == "bonjour"
    assert pending(fake, service) == {}


def test_a_plan_sku_changed_by_hand_is_drift(fake: FakeAzure, service: Path) -> None:
    s = deploy(service).session()
    s.web.app_service_plans.begin_create_or_update(s.resource_group, s.plan_name, {
        "location": s.settings.location, "kind": "functionapp", "sku": {"name": "EP1", "tier": "ElasticPremium"},
        "properties": {"reserved": True}}).result()
    assert pending(fake, service) == {"plan": Change("update", f"plan {s.plan_name}", (
        "drift: the plan's SKU was changed to EP1 outside multicloud: back to FlexConsumption (FC1)"))}
    deploy(service)
    assert fake.get(s.plan_id())["sku"] == {"name": "FC1", "tier": "FlexConsumption"}  # type: ignore[index]
    assert pending(fake, service) == {}


def test_consumption_package_setting_and_runtime_changed_by_hand(fake: FakeAzure, service: Path) -> None:
    """On Consumption the app runs what WEBSITE_RUN_FROM_PACKAGE points at: deleted by hand, the code is
    republished (the release that ran before stays recorded as before); linuxFxVersion is the runtime."""
    service.write_text(service.read_text().replace("  azure:\n", "  azure:\n    plan: consumption\n"))
    s = deploy(service).session()
    web, rg, app = s.web.web_apps, s.resource_group, s.app_name
    settings = dict(web.list_application_settings(rg, app).properties)
    del settings["WEBSITE_RUN_FROM_PACKAGE"]
    web.update_application_settings(rg, app, {"properties": settings})
    web.update_configuration(rg, app, {"properties": {"linuxFxVersion": "Python|3.9"}})

    assert pending(fake, service) == {
        "function app": Change("update", f"function app {app}",
                               "drift: linuxFxVersion of the function app changed outside multicloud"),
        "code": Change("update", "code", "drift: app setting WEBSITE_RUN_FROM_PACKAGE was deleted outside multicloud")}

    deploy(service)
    assert "WEBSITE_RUN_FROM_PACKAGE" in fake.app_settings[s.site_id().lower()]
    assert fake.site_configs[s.site_id().lower()]["linuxFxVersion"] == "Python|3.11"
    assert fake.get(s.site_id())["tags"]["multicloud-previous"] == ""  # type: ignore[index]
    assert pending(fake, service) == {}


def test_resources_deleted_by_hand_are_recreated(signed_in: FakeAzure, service: Path, tmp_path: Path) -> None:
    """The storage account (the app's connection strings, its containers, queues and Event Grid subscriptions,
    the deploy lock live there), then the app itself."""
    fake = signed_in
    s = deploy(service).session()
    rg, account, app = s.resource_group, s.storage_account, s.app_name
    s.storage.storage_accounts.delete(rg, account)

    drift = pending(fake, service)
    gone = "was deleted outside multicloud"
    assert drift == {  # by kind: the last of each (the account's containers, queues and subscriptions went too)
        "storage account": Change("create", f"storage account {account}", f"drift: the storage account {gone}"),
        "app settings": Change("update", f"app settings {app}",
                               f"drift: storage account {account} {gone} (new keys)"),
        "blob container": Change("create", "blob container uploads", f"drift: blob container uploads {gone}"),
        "storage queue": Change("create", "storage queue orders-in-poison",
                                f"drift: storage queue orders-in-poison {gone}"),
        "event grid subscription": Change("create", "event grid subscription worker-storage",
                                          f"drift: event grid subscription worker-storage {gone}"),
        "drift record": Change("update", f"drift record {app}", RECORD)}
    assert pending(fake, fresh_checkout(service, tmp_path / "runner-2")) == drift

    # the deploy lock recreates the account before deploy reads ARM: its new keys must still reach the app
    assert orchestrate.deploy(Project.load(service), "azure", no_progress).changed
    acct_id = f"{s.rg_id()}/providers/Microsoft.Storage/storageAccounts/{account}".lower()
    assert f"AccountKey={fake.account_keys[acct_id]};" in fake.app_settings[s.site_id().lower()]["AzureWebJobsStorage"]
    assert pending(fake, service) == {}

    s.web.web_apps.delete(rg, app)
    drift = pending(fake, service)  # this checkout's state cache knows the app was deployed
    assert drift["function app"] == Change("create", f"function app {app}",
                                           "drift: the function app was deleted outside multicloud")
    assert list(drift) == ["function app", "code"]
    elsewhere = pending(fake, fresh_checkout(service, tmp_path / "runner-3"))  # no record left to tell
    assert elsewhere["function app"].action == "create" and "drift" not in elsewhere["function app"].detail
    deploy(service)
    assert fake.get(s.site_id()) is not None and pending(fake, service) == {}


def test_plan_needs_the_app_settings_list_action(fake: FakeAzure, service: Path) -> None:
    """Reading app settings is an ARM action (Microsoft.Web/sites/config/list/action): the Reader role lacks
    it, and plan says which call was refused and what to grant."""
    deploy(service)
    fake.read_only = True
    with pytest.raises(OperationError) as info:
        pending(fake, service)
    assert "403 AuthorizationFailed" in info.value.what
    assert "POST" in str(info.value.where) and "/config/appsettings/list" in str(info.value.where)
    assert "Contributor" in (info.value.fix or "")
