"""Plan, then apply: resource group, storage, (Event Hubs), plan, function app, settings, code.

`plan` reads ARM and returns an inert Plan; `deploy` applies exactly the changes it lists, in order, then
publishes the zip (release.py) when its digest differs from the `multicloud-code` tag on the site. Every
resource multicloud creates carries the ownership tags (`multicloud-service`, `managed-by`), which
`remove` (manage.py) goes by. An unchanged app is only read, never written.
Secret values (storage keys, Event Hubs connection strings) go to app settings only: never into the
plan, the result, logs or state.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from multicloud.provider import BuildResult, Change, DeployResult, Plan, Progress
from multicloud.providers.azure.app import AppModel, app_model
from multicloud.providers.azure.arm import (
    TAG_CODE,
    TAG_CONFIG,
    TAG_PREVIOUS,
    ArmSession,
    endpoints,
    get_or_none,
    tags_of,
)
from multicloud.providers.azure.release import RUN_FROM_PACKAGE, publish, recorded_previous, remember
from multicloud.providers.azure.trigger_resources import create_trigger_storage, subscribe_blob_triggers
from multicloud.spec.models import StreamTrigger

MANAGED_LIST = "MULTICLOUD_MANAGED_SETTINGS"
DEPLOYMENT_STORAGE_SETTING = "DEPLOYMENT_STORAGE_CONNECTION_STRING"
PLAN_SKUS = {"flex": {"name": "FC1", "tier": "FlexConsumption"}, "consumption": {"name": "Y1", "tier": "Dynamic"}}


@dataclass(frozen=True)
class Current:
    """What ARM reports now (None: absent)."""

    group: Any
    storage: Any
    namespace: Any
    plan: Any
    site: Any


def _read(s: ArmSession) -> Current:
    group = get_or_none(s.resources.resource_groups.get, s.resource_group)
    if group is None:
        return Current(None, None, None, None, None)
    rg = s.resource_group
    return Current(
        group=group,
        storage=get_or_none(s.storage.storage_accounts.get_properties, rg, s.storage_account),
        namespace=get_or_none(s.eventhub.namespaces.get, rg, s.eventhub_namespace)
        if s.settings.eventhub.create else None,
        plan=get_or_none(s.web.app_service_plans.get, rg, s.plan_name),
        site=get_or_none(s.web.web_apps.get, rg, s.app_name),
    )


def config_hash(s: ArmSession, model: AppModel) -> str:
    """What the site's configuration follows from (no secret values in it: they are not known here)."""
    data = {"plan": s.settings.plan, "location": s.settings.location, "python": s.project.spec.python_version,
            "memory": model.instance_memory_mb, "settings": model.settings,
            "functions": [(f.name, f.decorator) for f in model.functions], "max": s.settings.max_instances,
            "eventhub": s.settings.eventhub.model_dump(), "tags": s.settings.tags}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def plan(s: ArmSession, build: BuildResult | None, progress: Progress) -> Plan:
    model = app_model(s.project)
    cur = _read(s)
    return Plan("azure", tuple(_changes(s, model, cur, build)))


def _changes(s: ArmSession, model: AppModel, cur: Current, build: BuildResult | None) -> list[Change]:
    """In apply order; `deploy` finds each step by its resource kind (`_kind`)."""
    rg = s.resource_group
    out = [Change("noop" if cur.group else "create", f"resource group {rg}", s.settings.location),
           Change("noop" if cur.storage else "create", f"storage account {s.storage_account}",
                  "Standard_LRS, AzureWebJobsStorage" + (", deployment container" if s.settings.plan == "flex"
                                                         else ""))]
    if s.settings.eventhub.create:
        hubs = sorted({t.config.name for f in s.project.functions_for("azure") for t in f.triggers
                       if isinstance(t.config, StreamTrigger)})
        out.append(Change("noop" if cur.namespace else "create", f"event hubs namespace {s.eventhub_namespace}",
                          "hubs: " + ", ".join(hubs)))
    sku = PLAN_SKUS[s.settings.plan]
    plan_ok = cur.plan is not None and getattr(cur.plan.sku, "name", None) == sku["name"]
    out.append(Change("noop" if plan_ok else ("update" if cur.plan else "create"),
                      f"plan {s.plan_name}", f"{sku['tier']} ({sku['name']})"))
    wanted = config_hash(s, model)
    site_tags = tags_of(cur.site)
    new_keys = cur.storage is None or (s.settings.eventhub.create and cur.namespace is None)
    out.append(Change("noop" if cur.site and site_tags.get(TAG_CONFIG) == wanted and not new_keys else
                      ("update" if cur.site else "create"), f"function app {s.app_name}",
                      f"{len(model.functions)} functions, settings: {', '.join(sorted(model.settings)) or 'none'}"))
    if build is None:
        out.append(Change("update", "code", "digest unknown: build first"))
    else:
        same = cur.site is not None and site_tags.get(TAG_CODE) == build.digest
        how = "one-deploy" if s.settings.plan == "flex" else "run-from-package URL"
        out.append(Change("noop" if same else "update", "code", f"{how} {build.digest[:12]}"))
    return out


def _kind(change: Change) -> str:
    for kind in ("resource group", "storage account", "event hubs namespace", "plan", "function app", "code"):
        if change.resource.startswith(kind):
            return kind
    raise AssertionError(change.resource)


def _storage_connection(s: ArmSession, account: Any) -> str:
    keys = s.storage.storage_accounts.list_keys(s.resource_group, s.storage_account)
    key = keys["keys"][0]["value"]  # item access: `.keys` is the mapping method on these models
    ep = account.properties.primary_endpoints
    return (f"DefaultEndpointsProtocol=https;AccountName={s.storage_account};AccountKey={key};"
            f"BlobEndpoint={ep.blob};QueueEndpoint={ep.queue};TableEndpoint={ep.table}")


def _eventhubs(s: ArmSession, progress: Progress, create_ns: bool) -> dict[str, str]:
    """Event Hubs app settings: a created namespace's connection, or an identity-based one."""
    cfg = s.settings.eventhub
    streams = [t.config for f in s.project.functions_for("azure") for t in f.triggers
               if isinstance(t.config, StreamTrigger)]
    if not streams:
        return {}
    if not cfg.create:
        if cfg.namespace:  # identity-based connection: no secret at all
            return {f"{cfg.connection}__fullyQualifiedNamespace": f"{cfg.namespace}.servicebus.windows.net"}
        return {}  # the user's own app setting `cfg.connection` is kept as it is
    rg, ns = s.resource_group, s.eventhub_namespace
    if create_ns:
        progress(f"creating Event Hubs namespace {ns}")
        s.eventhub.namespaces.begin_create_or_update(rg, ns, {
            "location": s.settings.location, "tags": s.tags(),
            "sku": {"name": "Standard", "tier": "Standard", "capacity": 1},
        }).result()
    for hub in sorted({st.name for st in streams}):
        s.eventhub.event_hubs.create_or_update(rg, ns, hub, {
            "properties": {"partitionCount": 2, "messageRetentionInDays": 1}})
    for hub, group in sorted({(st.name, st.consumer_group) for st in streams}):
        if group != "$Default":  # every hub has $Default
            s.eventhub.consumer_groups.create_or_update(rg, ns, hub, group, {"properties": {}})
    keys = s.eventhub.namespaces.list_keys(rg, ns, "RootManageSharedAccessKey")
    return {cfg.connection: keys.primary_connection_string}


def _site_body(s: ArmSession, model: AppModel, settings: dict[str, str], tags: dict[str, str],
               blob_endpoint: str) -> dict[str, Any]:
    site_config: dict[str, Any] = {
        "appSettings": [{"name": k, "value": v} for k, v in sorted(settings.items())],
        "minTlsVersion": "1.2", "ftpsState": "Disabled",
    }
    props: dict[str, Any] = {"serverFarmId": s.plan_id(), "httpsOnly": True, "reserved": True,
                             "siteConfig": site_config}
    if s.settings.plan == "flex":
        props["functionAppConfig"] = {
            "deployment": {"storage": {
                "type": "blobContainer", "value": f"{blob_endpoint.rstrip('/')}/{s.deploy_container}",
                "authentication": {"type": "StorageAccountConnectionString",
                                   "storageAccountConnectionStringName": DEPLOYMENT_STORAGE_SETTING}}},
            "runtime": {"name": "python", "version": s.project.spec.python_version},
            "scaleAndConcurrency": {"maximumInstanceCount": s.settings.max_instances,
                                    "instanceMemoryMB": model.instance_memory_mb},
        }
    else:
        site_config["linuxFxVersion"] = f"Python|{s.project.spec.python_version}"
    return {"location": s.settings.location, "kind": "functionapp,linux", "tags": tags,
            "identity": {"type": "SystemAssigned"}, "properties": props}


def create_group(s: ArmSession, progress: Progress) -> None:
    progress(f"creating resource group {s.resource_group}")
    s.resources.resource_groups.create_or_update(s.resource_group, {"location": s.settings.location,
                                                                    "tags": s.tags()})


def create_storage_account(s: ArmSession, progress: Progress) -> Any:
    """The app's storage account (AzureWebJobsStorage, the deployment container, the deploy lock)."""
    progress(f"creating storage account {s.storage_account}")
    return s.storage.storage_accounts.begin_create(s.resource_group, s.storage_account, {
        "location": s.settings.location, "kind": "StorageV2", "sku": {"name": "Standard_LRS"}, "tags": s.tags(),
        "properties": {"minimumTlsVersion": "TLS1_2", "allowBlobPublicAccess": False},
    }).result()


def deploy(s: ArmSession, build: BuildResult, progress: Progress) -> DeployResult:
    model = app_model(s.project)
    cur = _read(s)
    changes = {_kind(c): c for c in _changes(s, model, cur, build)}
    rg, loc = s.resource_group, s.settings.location
    if cur.group is None:
        create_group(s, progress)
    account = cur.storage if cur.storage is not None else create_storage_account(s, progress)
    if changes["plan"].action != "noop":
        progress(f"{changes['plan'].action} plan {s.plan_name}")
        s.web.app_service_plans.begin_create_or_update(rg, s.plan_name, {
            "location": loc, "kind": "functionapp", "tags": s.tags(), "sku": PLAN_SKUS[s.settings.plan],
            "properties": {"reserved": True},
        }).result()
    # an unchanged app reads ARM and writes nothing: keys, settings and trigger resources only on change
    site_changed = changes["function app"].action != "noop"
    warnings: dict[str, str] = {}
    if site_changed:
        progress(f"{changes['function app'].action} function app {s.app_name}")
        site, warnings = _configure_site(s, model, cur, account, progress)
    else:
        site = cur.site
    if changes["code"].action != "noop":
        previous = tags_of(cur.site).get(TAG_CODE) or None
        publish(s, site, build.artifacts[0].path, build.digest, previous, progress)
    else:
        previous = recorded_previous(s, site)
    if s.settings.plan == "flex" and (site_changed or changes["code"].action != "noop"):
        warnings |= subscribe_blob_triggers(s, model, str(site.default_host_name), progress)
    host = str(site.default_host_name)
    remember(s, host, build.digest, previous, build.artifacts[0].path)
    details = {"app": s.app_name, "resource_group": rg, "url": f"https://{host}", **warnings}
    changed = any(c.action != "noop" for c in changes.values())
    return DeployResult("azure", build.digest[:12], changed, endpoints(s, host), details)


def _configure_site(s: ArmSession, model: AppModel, cur: Current, account: Any,
                    progress: Progress) -> tuple[Any, dict[str, str]]:
    rg = s.resource_group
    s.storage.blob_containers.create(rg, s.storage_account, s.deploy_container, {"properties": {}})
    storage_conn = _storage_connection(s, account)
    managed: dict[str, str] = {"AzureWebJobsStorage": storage_conn, "AzureWebJobsDisableHomepage": "true"}
    if s.settings.plan == "flex":
        managed[DEPLOYMENT_STORAGE_SETTING] = storage_conn
    else:
        managed |= {"FUNCTIONS_WORKER_RUNTIME": "python", "FUNCTIONS_EXTENSION_VERSION": "~4"}
    managed |= _eventhubs(s, progress, create_ns=cur.namespace is None)
    managed |= model.settings
    # read by multicloud.runtime.azure for Context.memory_limit_mb / remaining_time_ms
    managed |= {"MULTICLOUD_MEMORY_MB": str(model.instance_memory_mb),
                "MULTICLOUD_TIMEOUT_MS": str(model.timeout_s * 1000)}
    managed[MANAGED_LIST] = ",".join(sorted([*managed, MANAGED_LIST]))
    settings = dict(managed)
    if cur.site is not None:  # keep settings someone else set (e.g. an Event Hubs connection)
        existing = dict(s.web.web_apps.list_application_settings(rg, s.app_name).properties or {})
        ours_before = set((existing.get(MANAGED_LIST) or "").split(","))
        settings = {k: v for k, v in existing.items() if k not in ours_before} | managed
        if s.settings.plan == "consumption" and RUN_FROM_PACKAGE in existing:  # set by _run_from_package_url
            settings[RUN_FROM_PACKAGE] = existing[RUN_FROM_PACKAGE]
    released = {k: v for k, v in tags_of(cur.site).items() if k in (TAG_CODE, TAG_PREVIOUS)}  # release.py's
    tags = s.tags(**{TAG_CODE: "", **released, TAG_CONFIG: config_hash(s, model)})
    blob_endpoint = account.properties.primary_endpoints.blob
    site = s.web.web_apps.begin_create_or_update(rg, s.app_name,
                                                 _site_body(s, model, settings, tags, blob_endpoint)).result()
    s.web.web_apps.update_application_settings(rg, s.app_name, {"properties": settings})
    create_trigger_storage(s, progress)
    return site, _warnings(s, settings)


def _warnings(s: ArmSession, settings: dict[str, str]) -> dict[str, str]:
    cfg = s.settings.eventhub
    needs_hub = any(isinstance(t.config, StreamTrigger) for f in s.project.functions_for("azure") for t in f.triggers)
    if needs_hub and not cfg.create and cfg.connection not in settings and \
            f"{cfg.connection}__fullyQualifiedNamespace" not in settings:
        return {"warning": f"app setting {cfg.connection} is not set: Event Hubs functions cannot connect until "
                           f"you set it to the hub's connection string (or set eventhub.namespace / create)"}
    return {}

