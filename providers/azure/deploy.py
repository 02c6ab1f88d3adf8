"""Plan, then apply: resource group, storage, (Event Hubs), plan, function app, settings, code.

`plan` reads ARM and returns an inert Plan; `deploy` applies exactly the changes it lists, in order, then
publishes the zip (release.py) when its digest differs from the `multicloud-code` tag on the site. Every
resource multicloud creates carries the ownership tags (`multicloud-service`, `managed-by`), which
`remove` (manage.py) goes by. An unchanged app is only read, never written.
Secret values (storage keys, Event Hubs connection strings) go to app settings only: never into the
plan, the result, logs or state. The plan reads the site's app settings and configuration back, so a change
made by hand shows as `drift: ...` (drift.py) and the next deploy repairs it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
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
from multicloud.providers.azure.drift import (
    TAG_FINGERPRINTS,
    Actual,
    Wanted,
    fingerprints,
    label,
    site_drift,
    site_fields,
)
from multicloud.providers.azure.release import RUN_FROM_PACKAGE, package_drift, publish, recorded_previous, remember
from multicloud.providers.azure.trigger_resources import create_trigger_storage, subscribe_blob_triggers
from multicloud.spec.models import StreamTrigger
from multicloud.state import read_state

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
    settings: dict[str, str] = field(default_factory=dict)  # the site's app settings (secret values: never shown)
    site_doc: dict[str, Any] = field(default_factory=dict)  # GET site, siteConfig completed by GET config/web

    @property
    def state(self) -> str:
        """Running or Stopped (ARM's `state` of the site)."""
        value = getattr(self.site, "state", None)
        return str(getattr(value, "value", value) or "Running")


def _read(s: ArmSession) -> Current:
    """Reads only: GETs, and the app settings' list action (a POST that changes nothing)."""
    group = get_or_none(s.resources.resource_groups.get, s.resource_group)
    if group is None:
        return Current(None, None, None, None, None)
    rg = s.resource_group
    site = get_or_none(s.web.web_apps.get, rg, s.app_name)
    settings: dict[str, str] = {}
    doc: dict[str, Any] = {}
    if site is not None:
        settings = dict(s.web.web_apps.list_application_settings(rg, s.app_name).properties or {})
        doc = site.as_dict()
        config = s.web.web_apps.get_configuration(rg, s.app_name).as_dict().get("properties") or {}
        props = doc.setdefault("properties", {})
        props["siteConfig"] = {**(props.get("siteConfig") or {}), **config}
    return Current(
        group=group,
        storage=get_or_none(s.storage.storage_accounts.get_properties, rg, s.storage_account),
        namespace=get_or_none(s.eventhub.namespaces.get, rg, s.eventhub_namespace)
        if s.settings.eventhub.create else None,
        plan=get_or_none(s.web.app_service_plans.get, rg, s.plan_name),
        site=site, settings=settings, site_doc=doc,
    )


def account_identity(account: Any) -> str:
    """Which storage account the connection strings were made from: a recreated one has new keys."""
    return f"{account.name}@{(account.as_dict().get('properties') or {}).get('creationTime', '')}"


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
    """In apply order; `deploy` finds each step by its resource kind (`_kind`).

    While the site's `multicloud-config` tag matches the spec (`recorded`), whatever ARM reports unlike what
    deploy sets was changed by hand and is labelled `drift: ...`; a deleted resource is labelled so when the
    site's record or, with the site gone, the local state cache says a deploy made it."""
    rg = s.resource_group
    site_tags = tags_of(cur.site)
    recorded = cur.site is not None and site_tags.get(TAG_CONFIG) == config_hash(s, model)
    cache = read_state(s.project, "azure")
    deployed = recorded or (cur.site is None and (cache.get("app"), cache.get("resource_group")) == (s.app_name, rg))

    def gone(what: str, plain: str, known: bool = deployed) -> str:
        return label([f"{what} was deleted outside multicloud"]) if known else plain

    # the app's connection strings name the account: a spec that names another account is no drift
    ours = cur.site is None or f"AccountName={s.storage_account};" in cur.settings.get("AzureWebJobsStorage", "")
    storage = "Standard_LRS, AzureWebJobsStorage" + (", deployment container" if s.settings.plan == "flex" else "")
    out = [Change("noop" if cur.group else "create", f"resource group {rg}",
                  gone("the resource group", s.settings.location) if cur.group is None else s.settings.location),
           Change("noop" if cur.storage else "create", f"storage account {s.storage_account}",
                  gone("the storage account", storage, deployed and ours) if cur.storage is None else storage)]
    extra = [] if cur.storage or not recorded else [f"storage account {s.storage_account} was deleted outside "
                                                    "multicloud (new keys)"]
    if s.settings.eventhub.create:
        hubs = "hubs: " + ", ".join(sorted({st.name for st in _streams(s)}))
        out.append(Change("noop" if cur.namespace else "create", f"event hubs namespace {s.eventhub_namespace}",
                          gone("the namespace", hubs, recorded) if cur.namespace is None else hubs))
        if cur.namespace is None and recorded:
            extra.append(f"event hubs namespace {s.eventhub_namespace} was deleted outside multicloud (new keys)")
    sku = PLAN_SKUS[s.settings.plan]
    sku_text = f"{sku['tier']} ({sku['name']})"
    now = getattr(getattr(cur.plan, "sku", None), "name", None)
    if cur.plan is None:
        out.append(Change("create", f"plan {s.plan_name}", gone("the plan", sku_text)))
    elif now != sku["name"]:
        out.append(Change("update", f"plan {s.plan_name}", label([f"the plan's SKU was changed to {now} outside "
                                                                  f"multicloud: back to {sku_text}"])
                          if recorded else sku_text))
    else:
        out.append(Change("noop", f"plan {s.plan_name}", sku_text))
    app = f"function app {s.app_name}"
    summary = f"{len(model.functions)} functions, settings: {', '.join(sorted(model.settings)) or 'none'}"
    if cur.site is None:
        out.append(Change("create", app, gone("the function app", summary)))
    elif not recorded:  # the spec changed since the last deploy (or the record was lost): a plain update
        out.append(Change("update", app, summary))
    else:
        drift = site_drift(_wanted(s, model, cur), _actual(cur, extra))
        out.append(Change("update" if drift else "noop", app, label(drift) or summary))
    if build is None:
        out.append(Change("update", "code", "digest unknown: build first"))
    else:
        same = cur.site is not None and site_tags.get(TAG_CODE) == build.digest
        how = f"{'one-deploy' if s.settings.plan == 'flex' else 'run-from-package URL'} {build.digest[:12]}"
        moved = package_drift(s, cur.settings, build.digest) if same else ""
        out.append(Change("update" if moved or not same else "noop", "code", moved or how))
    return out


def _wanted(s: ArmSession, model: AppModel, cur: Current) -> Wanted:
    plain, secrets = wanted_settings(s, model)
    blob = cur.storage.properties.primary_endpoints.blob if cur.storage is not None else None
    site = site_fields(_site_body(s, model, {}, {}, blob or ""))
    if blob is None:  # a new account: the deployment storage follows it (and the site is updated anyway)
        site.pop("deployment storage", None)
    return Wanted(plain, secrets, site, s.tags())


def _actual(cur: Current, extra: list[str]) -> Actual:
    return Actual(cur.settings, cur.state,
                  site_fields(cur.site_doc), tags_of(cur.site),
                  account_identity(cur.storage) if cur.storage is not None else None, tuple(extra))


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


def _streams(s: ArmSession) -> list[StreamTrigger]:
    return [t.config for f in s.project.functions_for("azure") for t in f.triggers
            if isinstance(t.config, StreamTrigger)]


def wanted_settings(s: ArmSession, model: AppModel) -> tuple[dict[str, str], list[str]]:
    """The app settings deploy sets: the plain ones with their values, and the names of the secret-valued
    ones (storage and Event Hubs connection strings: their values exist only once deploy reads the keys)."""
    plain = {"AzureWebJobsDisableHomepage": "true"}
    secrets = ["AzureWebJobsStorage"]
    if s.settings.plan == "flex":
        secrets.append(DEPLOYMENT_STORAGE_SETTING)
    else:
        plain |= {"FUNCTIONS_WORKER_RUNTIME": "python", "FUNCTIONS_EXTENSION_VERSION": "~4"}
    cfg = s.settings.eventhub
    if _streams(s) and cfg.create:
        secrets.append(cfg.connection)
    elif _streams(s) and cfg.namespace:  # identity-based connection: no secret at all
        plain[f"{cfg.connection}__fullyQualifiedNamespace"] = f"{cfg.namespace}.servicebus.windows.net"
    # without either, the user's own app setting `cfg.connection` is kept as it is
    plain |= model.settings
    # read by multicloud.runtime.azure for Context.memory_limit_mb / remaining_time_ms
    plain |= {"MULTICLOUD_MEMORY_MB": str(model.instance_memory_mb),
              "MULTICLOUD_TIMEOUT_MS": str(model.timeout_s * 1000)}
    secrets = [name for name in secrets if name not in plain]
    plain[MANAGED_LIST] = ",".join(sorted([*plain, *secrets, MANAGED_LIST]))
    return plain, secrets


def _eventhubs(s: ArmSession, progress: Progress, create_ns: bool) -> dict[str, str]:
    """With `eventhub.create`: namespace, hubs and consumer groups, and the namespace's connection string."""
    cfg = s.settings.eventhub
    streams = _streams(s)
    if not streams or not cfg.create:
        return {}
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
        progress(_step(changes["plan"]))
        s.web.app_service_plans.begin_create_or_update(rg, s.plan_name, {
            "location": loc, "kind": "functionapp", "tags": s.tags(), "sku": PLAN_SKUS[s.settings.plan],
            "properties": {"reserved": True},
        }).result()
    # an unchanged app reads ARM and writes nothing: keys, settings and trigger resources only on change
    site_changed = changes["function app"].action != "noop"
    warnings: dict[str, str] = {}
    if site_changed:
        progress(_step(changes["function app"]))
        site, warnings = _configure_site(s, model, cur, account, progress)
    else:
        site = cur.site
    if changes["code"].action != "noop":
        running = tags_of(cur.site).get(TAG_CODE) or None
        # the same release again (its package setting was changed by hand): what ran before stays the same
        previous = recorded_previous(s, cur.site) if running == build.digest else running
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


def _step(change: Change) -> str:
    """A progress line; a change made by hand says so (details name settings, never values)."""
    drift = f" ({change.detail})" if change.detail.startswith("drift:") else ""
    return f"{change.action} {change.resource}{drift}"


def _configure_site(s: ArmSession, model: AppModel, cur: Current, account: Any,
                    progress: Progress) -> tuple[Any, dict[str, str]]:
    rg = s.resource_group
    s.storage.blob_containers.create(rg, s.storage_account, s.deploy_container, {"properties": {}})
    storage_conn = _storage_connection(s, account)
    plain, secret_names = wanted_settings(s, model)
    values = {"AzureWebJobsStorage": storage_conn, DEPLOYMENT_STORAGE_SETTING: storage_conn}
    values |= _eventhubs(s, progress, create_ns=cur.namespace is None)
    secrets = {name: values[name] for name in secret_names}
    managed = secrets | plain
    settings = dict(managed)
    if cur.site is not None:  # keep settings someone else set (e.g. an Event Hubs connection)
        ours_before = set((cur.settings.get(MANAGED_LIST) or "").split(","))
        settings = {k: v for k, v in cur.settings.items() if k not in ours_before} | managed
        if s.settings.plan == "consumption" and RUN_FROM_PACKAGE in cur.settings:  # set by _run_from_package_url
            settings[RUN_FROM_PACKAGE] = cur.settings[RUN_FROM_PACKAGE]
    released = {k: v for k, v in tags_of(cur.site).items() if k in (TAG_CODE, TAG_PREVIOUS)}  # release.py's
    tags = s.tags(**{TAG_CODE: "", **released, TAG_CONFIG: config_hash(s, model),
                     TAG_FINGERPRINTS: fingerprints(secrets, account_identity(account))})
    blob_endpoint = account.properties.primary_endpoints.blob
    site = s.web.web_apps.begin_create_or_update(rg, s.app_name,
                                                 _site_body(s, model, settings, tags, blob_endpoint)).result()
    s.web.web_apps.update_application_settings(rg, s.app_name, {"properties": settings})
    if cur.site is not None and cur.state != "Running":
        progress(f"starting function app {s.app_name} (it was {cur.state})")
        s.web.web_apps.start(rg, s.app_name)
    create_trigger_storage(s, progress)
    return site, _warnings(s, settings)


def _warnings(s: ArmSession, settings: dict[str, str]) -> dict[str, str]:
    cfg = s.settings.eventhub
    if _streams(s) and not cfg.create and cfg.connection not in settings and \
            f"{cfg.connection}__fullyQualifiedNamespace" not in settings:
        return {"warning": f"app setting {cfg.connection} is not set: Event Hubs functions cannot connect until "
                           f"you set it to the hub's connection string (or set eventhub.namespace / create)"}
    return {}

