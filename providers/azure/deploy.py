"""Plan, then apply: resource group, storage, (Event Hubs), plan, function app, settings, code.

`plan` reads ARM and returns an inert Plan; `deploy` applies exactly the changes it lists, in order, then
publishes the zip when its digest differs from the `multicloud-code` tag on the site. Every resource
multicloud creates carries the ownership tags (`multicloud-service`, `managed-by`); `remove` deletes only
resources that carry them, and the resource group only when nothing else is left in it.
Secret values (storage keys, Event Hubs connection strings) go to app settings only: never into the
plan, the result, logs or state.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from multicloud.providers.azure.app import AppModel, app_model
from multicloud.providers.azure.arm import TAG_CODE, TAG_CONFIG, ArmSession, get_or_none
from multicloud.providers.azure.publish import deployment_log, publish_zip, scm_client, scm_host, upload_blob
from multicloud.providers.azure.triggers import AzureFunction

from multicloud.errors import OperationError, UnsupportedError
from multicloud.provider import (
    BuildResult,
    Change,
    DeployResult,
    Endpoint,
    FunctionStatus,
    LogRecord,
    Plan,
    Progress,
    RemoveResult,
    StatusReport,
)
from multicloud.spec.models import HttpTrigger, QueueTrigger, StorageTrigger, StreamTrigger
from multicloud.state import build_dir, read_state, write_state

MANAGED_LIST = "MULTICLOUD_MANAGED_SETTINGS"
RUN_FROM_PACKAGE = "WEBSITE_RUN_FROM_PACKAGE"
EVENTGRID_API_VERSION = "2022-06-15"  # GA Event Grid REST version (no Event Grid SDK is needed for one PUT)
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


def _tags(resource: Any) -> dict[str, str]:
    return dict(getattr(resource, "tags", None) or {})


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
    site_tags = _tags(cur.site)
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


def deploy(s: ArmSession, build: BuildResult, progress: Progress) -> DeployResult:
    model = app_model(s.project)
    cur = _read(s)
    changes = {_kind(c): c for c in _changes(s, model, cur, build)}
    rg, loc = s.resource_group, s.settings.location
    if cur.group is None:
        progress(f"creating resource group {rg}")
        s.resources.resource_groups.create_or_update(rg, {"location": loc, "tags": s.tags()})
    account = cur.storage
    if account is None:
        progress(f"creating storage account {s.storage_account}")
        account = s.storage.storage_accounts.begin_create(rg, s.storage_account, {
            "location": loc, "kind": "StorageV2", "sku": {"name": "Standard_LRS"}, "tags": s.tags(),
            "properties": {"minimumTlsVersion": "TLS1_2", "allowBlobPublicAccess": False},
        }).result()
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
    previous = _tags(cur.site).get(TAG_CODE) or None
    if changes["code"].action != "noop":
        _publish(s, site, build.artifacts[0].path, build.digest, progress)
    else:
        previous = read_state(s.project, "azure").get("previous")
    if s.settings.plan == "flex" and (site_changed or changes["code"].action != "noop"):
        warnings |= _blob_event_subscriptions(s, model, str(site.default_host_name), progress)
    host = str(site.default_host_name)
    _remember(s, host, build.digest, previous, build.artifacts[0].path)
    details = {"app": s.app_name, "resource_group": rg, "url": f"https://{host}", **warnings}
    changed = any(c.action != "noop" for c in changes.values())
    return DeployResult("azure", build.digest[:12], changed, _endpoints(s, host), details)


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
    tags = s.tags(**{TAG_CONFIG: config_hash(s, model), TAG_CODE: _tags(cur.site).get(TAG_CODE, "")})
    blob_endpoint = account.properties.primary_endpoints.blob
    site = s.web.web_apps.begin_create_or_update(rg, s.app_name,
                                                 _site_body(s, model, settings, tags, blob_endpoint)).result()
    s.web.web_apps.update_application_settings(rg, s.app_name, {"properties": settings})
    _trigger_storage(s, progress)
    return site, _warnings(s, settings)


def _publish(s: ArmSession, site: Any, zip_path: Path, digest: str, progress: Progress) -> None:
    if s.settings.plan == "flex":
        client = scm_client(s.credential, s.arm_scope, scm_host(site, s.app_name))
        publish_zip(client, zip_path, progress)
    else:
        _run_from_package_url(s, zip_path, digest, progress)
    s.resources.tags.begin_update_at_scope(
        s.site_id().lstrip("/"), {"operation": "Merge", "properties": {"tags": {TAG_CODE: digest}}}).result()


def _sas(s: ArmSession, blob: str, permission: str, hours: int) -> str:
    expiry = (datetime.now(timezone.utc) + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = s.storage.storage_accounts.list_service_sas(s.resource_group, s.storage_account, {
        "canonicalizedResource": f"/blob/{s.storage_account}/{s.deploy_container}/{blob}",
        "signedResource": "b", "signedPermission": permission, "signedProtocol": "https", "signedExpiry": expiry})
    return str(result["serviceSasToken"])


def _run_from_package_url(s: ArmSession, zip_path: Path, digest: str, progress: Progress) -> None:
    """Linux Consumption has no one-deploy: upload the zip to the app's storage account and point
    WEBSITE_RUN_FROM_PACKAGE at it (read-only SAS), then have the platform sync its triggers."""
    rg, blob = s.resource_group, f"{digest}.zip"
    account = s.storage.storage_accounts.get_properties(rg, s.storage_account)
    base = f"{account.properties.primary_endpoints.blob.rstrip('/')}/{s.deploy_container}/{blob}"
    progress(f"uploading {zip_path.name} ({zip_path.stat().st_size} bytes) to {s.storage_account}")
    upload_blob(f"{base}?{_sas(s, blob, 'cw', 1)}", zip_path)
    settings = dict(s.web.web_apps.list_application_settings(rg, s.app_name).properties or {})
    settings[RUN_FROM_PACKAGE] = f"{base}?{_sas(s, blob, 'r', 24 * 365 * 10)}"
    s.web.web_apps.update_application_settings(rg, s.app_name, {"properties": settings})
    s.web.web_apps.sync_function_triggers(rg, s.app_name)


def _releases(s: ArmSession) -> Path:
    return build_dir(s.project, "azure") / "releases"


def _remember(s: ArmSession, host: str, digest: str, previous: str | None, zip_path: Path | None) -> None:
    """State (a cache): what runs now and what ran before; keep those two packages for `rollback`."""
    releases = _releases(s)
    releases.mkdir(parents=True, exist_ok=True)
    if zip_path is not None and not (releases / f"{digest}.zip").exists():
        shutil.copyfile(zip_path, releases / f"{digest}.zip")
    for old in releases.glob("*.zip"):
        if old.stem not in (digest, previous):
            old.unlink()
    write_state(s.project, "azure", {"app": s.app_name, "resource_group": s.resource_group, "host": host,
                                     "digest": digest, "previous": previous, "subscription": s.subscription_id})


def rollback(s: ArmSession, progress: Progress) -> DeployResult:
    """Publish the package that ran before the current one (code only: settings stay as they are)."""
    state = read_state(s.project, "azure")
    previous = state.get("previous")
    package = _releases(s) / f"{previous}.zip"
    if not previous or not package.is_file():
        raise OperationError("no previous release of this app is known on this machine",
                             fix="deploy the earlier version of the code again (multicloud deploy --target azure)",
                             where=str(_releases(s)))
    site = get_or_none(s.web.web_apps.get, s.resource_group, s.app_name)
    if site is None:
        raise OperationError(f"function app {s.app_name} does not exist", fix="deploy first")
    current = _tags(site).get(TAG_CODE) or state.get("digest")
    progress(f"rolling back {s.app_name} to {previous[:12]}")
    _publish(s, site, package, previous, progress)
    host = str(site.default_host_name)
    _remember(s, host, previous, current, None)
    return DeployResult("azure", previous[:12], True, _endpoints(s, host),
                        {"app": s.app_name, "resource_group": s.resource_group, "url": f"https://{host}"})


def _trigger_storage(s: ArmSession, progress: Progress) -> None:
    """Blob containers and queues the triggers watch, in the app's storage account (AzureWebJobsStorage)."""
    rg, acct = s.resource_group, s.storage_account
    configs = [t.config for f in s.project.functions_for("azure") for t in f.triggers]
    for bucket in sorted({c.bucket for c in configs if isinstance(c, StorageTrigger)}):
        s.storage.blob_containers.create(rg, acct, bucket, {"properties": {}})
    for queue in sorted({c.name for c in configs if isinstance(c, QueueTrigger)}):
        s.storage.queue.create(rg, acct, queue, {"properties": {}})


def _blob_event_subscriptions(s: ArmSession, model: AppModel, host: str, progress: Progress) -> dict[str, str]:
    """Flex runs only the Event Grid blob trigger: subscribe each one to BlobCreated on its container.

    The webhook carries the host's `blobs_extension` system key, which exists once the host has indexed
    a blob trigger; until then deploy reports a warning and the next deploy subscribes.
    """
    blobs = [(f, _trigger(s, f)) for f in model.functions if f.kind == "storage"]
    if not blobs:
        return {}
    keys = s.web.web_apps.list_host_keys(s.resource_group, s.app_name)
    key = (keys.system_keys or {}).get("blobs_extension")
    if not key:
        return {"warning": "the host has no blobs_extension key yet: deploy again to subscribe blob triggers to "
                           "Event Grid"}
    account_id = f"{s.rg_id()}/providers/Microsoft.Storage/storageAccounts/{s.storage_account}"
    for fn, cfg in blobs:
        assert isinstance(cfg, StorageTrigger)
        progress(f"subscribing {fn.name} to Event Grid BlobCreated on {cfg.bucket}")
        url = f"https://{host}/runtime/webhooks/blobs?functionName=Host.Functions.{fn.name}&code={key}"
        s.resources.resources.begin_create_or_update_by_id(
            f"{account_id}/providers/Microsoft.EventGrid/eventSubscriptions/{_subscription_name(fn.name)}".lstrip("/"),
            {"properties": {
                "destination": {"endpointType": "WebHook", "properties": {"endpointUrl": url}},
                "filter": {"includedEventTypes": ["Microsoft.Storage.BlobCreated"],
                           "subjectBeginsWith": f"/blobServices/default/containers/{cfg.bucket}/blobs/{cfg.prefix}",
                           "subjectEndsWith": cfg.suffix},
                "eventDeliverySchema": "EventGridSchema"}},
            api_version=EVENTGRID_API_VERSION).result()
    return {}


def _subscription_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", name)[:64]  # Event Grid: 3-64 letters, digits and dashes


def _trigger(s: ArmSession, f: AzureFunction) -> object:
    return s.project.function("azure", f.spec_function).triggers[f.trigger_index].config


def _warnings(s: ArmSession, settings: dict[str, str]) -> dict[str, str]:
    cfg = s.settings.eventhub
    needs_hub = any(isinstance(t.config, StreamTrigger) for f in s.project.functions_for("azure") for t in f.triggers)
    if needs_hub and not cfg.create and cfg.connection not in settings and \
            f"{cfg.connection}__fullyQualifiedNamespace" not in settings:
        return {"warning": f"app setting {cfg.connection} is not set: Event Hubs functions cannot connect until "
                           f"you set it to the hub's connection string (or set eventhub.namespace / create)"}
    return {}


def _endpoints(s: ArmSession, host: str) -> tuple[Endpoint, ...]:
    out = []
    for fn in s.project.functions_for("azure"):
        for t in fn.triggers:
            if isinstance(t.config, HttpTrigger):
                out.append(Endpoint(fn.name, f"https://{host}{t.config.path}",
                                    "key" if t.config.auth == "key" else "none"))
    return tuple(out)


def status(s: ArmSession) -> StatusReport:
    site = get_or_none(s.web.web_apps.get, s.resource_group, s.app_name)
    if site is None:
        return StatusReport("azure", False, details={"app": s.app_name, "resource_group": s.resource_group})
    model = app_model(s.project)
    deployed = {str(f.name).rsplit("/", 1)[-1] for f in s.web.web_apps.list_functions(s.resource_group, s.app_name)}
    state = str(site.state or "unknown").lower()
    endpoints = {e.function: e.url for e in _endpoints(s, str(site.default_host_name))}
    out = []
    for f in model.functions:
        out.append(FunctionStatus(f.spec_function if f.name == f.spec_function else f"{f.spec_function} ({f.name})",
                                  state if f.name in deployed else "missing",
                                  _tags(site).get(TAG_CODE, "")[:12] or None,
                                  endpoints.get(f.spec_function) if f.kind == "http" else None))
    return StatusReport("azure", True, tuple(out), {"app": s.app_name, "state": state,
                                                    "host": str(site.default_host_name)})


def logs(s: ArmSession, function: str | None, since: datetime | None, follow: bool) -> Iterator[LogRecord]:
    """The platform's deployment log from the SCM site; function logs live in Application Insights."""
    if follow:
        raise UnsupportedError("following Azure function logs needs Application Insights, which multicloud does "
                               "not set up yet", fix="use `az webapp log tail` or Live Metrics in the portal")
    site = get_or_none(s.web.web_apps.get, s.resource_group, s.app_name)
    if site is None:
        raise OperationError(f"function app {s.app_name} does not exist", fix="deploy first")
    client = scm_client(s.credential, s.arm_scope, scm_host(site, s.app_name))
    for entry in deployment_log(client):
        when = _parse_time(entry.get("log_time"))
        if since is not None and when < since:
            continue
        yield LogRecord(when, function or "deployment", str(entry.get("message", "")))


def _parse_time(value: object) -> datetime:
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(timezone.utc)
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def remove(s: ArmSession, progress: Progress) -> RemoveResult:
    rg = s.resource_group
    removed: list[str] = []
    if get_or_none(s.resources.resource_groups.get, rg) is None:
        return RemoveResult("azure", ())
    site = get_or_none(s.web.web_apps.get, rg, s.app_name)
    if site is not None and s.owns(site):
        progress(f"deleting function app {s.app_name}")
        s.web.web_apps.delete(rg, s.app_name)
        removed.append(f"function app {s.app_name}")
    plan_ = get_or_none(s.web.app_service_plans.get, rg, s.plan_name)
    if plan_ is not None and s.owns(plan_):
        s.web.app_service_plans.delete(rg, s.plan_name)
        removed.append(f"plan {s.plan_name}")
    if s.settings.eventhub.create:
        ns = get_or_none(s.eventhub.namespaces.get, rg, s.eventhub_namespace)
        if ns is not None and s.owns(ns):
            s.eventhub.namespaces.begin_delete(rg, s.eventhub_namespace).result()
            removed.append(f"event hubs namespace {s.eventhub_namespace}")
    account = get_or_none(s.storage.storage_accounts.get_properties, rg, s.storage_account)
    if account is not None and s.settings.plan == "flex":  # subscriptions outlive the app on a kept account
        from azure.core.exceptions import ResourceNotFoundError

        for f in app_model(s.project).functions:
            if f.kind == "storage":
                sub_id = f"{account.id}/providers/Microsoft.EventGrid/eventSubscriptions/{_subscription_name(f.name)}"
                try:
                    s.resources.resources.begin_delete_by_id(sub_id.lstrip("/"),
                                                             api_version=EVENTGRID_API_VERSION).result()
                    removed.append(f"event grid subscription {_subscription_name(f.name)}")
                except ResourceNotFoundError:
                    pass
    if account is not None and s.owns(account):
        s.storage.storage_accounts.delete(rg, s.storage_account)
        removed.append(f"storage account {s.storage_account}")
    group = s.resources.resource_groups.get(rg)
    if s.owns(group) and not list(s.resources.resources.list_by_resource_group(rg)):
        progress(f"deleting resource group {rg}")
        s.resources.resource_groups.begin_delete(rg).result()
        removed.append(f"resource group {rg}")
    from multicloud.state import clear_state

    clear_state(s.project, "azure")
    return RemoveResult("azure", tuple(removed))
