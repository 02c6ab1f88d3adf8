"""Plan, then apply: resource group, storage, (Event Hubs), plan, function app, settings, code.

`plan` reads ARM (GETs and the app settings' list action, never a write) and returns steps, one per
resource in apply order, each naming an executor of `apply.OPS` with plain-data arguments and the write
requests it makes; `apply` runs exactly those steps and nothing else, then records the release (state
cache) and reports. Every resource multicloud creates carries the ownership tags (`multicloud-service`,
`managed-by`), which `remove` (ops.py) goes by. An unchanged app is only read, never written.

Secret values (storage keys, Event Hubs connection strings) go to app settings only: read by the executor
that sets them, never into the plan, the result, logs or state; a plan shows app settings that are secrets
or Key Vault references as fingerprints (`FieldChange(secret=True)`). The plan reads the site's app
settings and configuration back, so a change made by hand shows as `drift: ...` (drift.py) and the next
deploy repairs it. `observed` fingerprints what identifies the deployment now (each resource's state, the
site's tags, configuration and settings), so a saved plan is refused once any of it changed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from multicloud.plan import FieldChange, Step, fingerprint, secret_fingerprint
from multicloud.provider import BuildResult, DeployResult, Plan, Progress
from multicloud.spec.models import StreamTrigger
from multicloud.state import read_state

from .app import AppModel, app_model
from .apply import (
    DEPLOYMENT_STORAGE_SETTING,
    OPS,
    account_identity,
    apply_steps,
    subscriptions,
)
from .arm import (
    TAG_CODE,
    TAG_CONFIG,
    TAG_PREVIOUS,
    ArmSession,
    endpoints,
    get_or_none,
    tags_of,
)
from .drift import Actual, Wanted, label, site_drift, site_fields
from .release import package_drift, recorded_previous, remember
from .trigger_resources import blob_subscriptions, trigger_storage

MANAGED_LIST = "MULTICLOUD_MANAGED_SETTINGS"
PLAN_SKUS = {"flex": {"name": "FC1", "tier": "FlexConsumption"}, "consumption": {"name": "Y1", "tier": "Dynamic"}}
Writing = Literal["create", "update", "delete"]


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


def config_hash(s: ArmSession, model: AppModel) -> str:
    """What the site's configuration follows from (no secret values in it: they are not known here)."""
    data = {"plan": s.settings.plan, "location": s.settings.location, "python": s.project.spec.python_version,
            "memory": model.instance_memory_mb, "settings": model.settings,
            "functions": [(f.name, f.decorator) for f in model.functions], "max": s.settings.max_instances,
            "eventhub": s.settings.eventhub.model_dump(), "tags": s.settings.tags}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class Steps:
    """The steps planned so far; each write names its executor and the requests it makes (`apply.OPS`)."""

    steps: list[Step] = field(default_factory=list)
    observed: dict[str, str] = field(default_factory=dict)

    def write(self, action: Writing, kind: str, ident: str, op: str, args: dict[str, Any], detail: str = "",
              fields: tuple[FieldChange, ...] = ()) -> None:
        self.steps.append(Step(action, kind, ident, detail, fields, op, args, OPS[op].calls(args)))

    def noop(self, kind: str, ident: str, detail: str = "") -> None:
        self.steps.append(Step("noop", kind, ident, detail))

    def observe(self, resource: str, value: object) -> None:
        self.observed[resource] = fingerprint(value) if value is not None else "missing"


def group_body(s: ArmSession) -> dict[str, Any]:
    return {"location": s.settings.location, "tags": s.tags()}


def account_body(s: ArmSession) -> dict[str, Any]:
    """The app's storage account (AzureWebJobsStorage, the deployment container, the deploy lock)."""
    return {"location": s.settings.location, "kind": "StorageV2", "sku": {"name": "Standard_LRS"}, "tags": s.tags(),
            "properties": {"minimumTlsVersion": "TLS1_2", "allowBlobPublicAccess": False}}


def account_id(s: ArmSession) -> str:
    return f"{s.rg_id()}/providers/Microsoft.Storage/storageAccounts/{s.storage_account}"


def plan(s: ArmSession, build: BuildResult | None, progress: Progress) -> Plan:
    model = app_model(s.project)
    cur = _read(s)
    run = Steps()
    memo = _plan_steps(s, model, cur, build, run)
    return Plan("azure", tuple(run.steps), observed=dict(run.observed), memo=memo)


def _observe(s: ArmSession, run: Steps, cur: Current) -> None:
    """What identifies the deployment now: a saved plan is refused when any of it changed before apply."""
    run.observe(f"resource group {s.resource_group}", "present" if cur.group is not None else None)
    run.observe(f"storage account {s.storage_account}",
                account_identity(cur.storage) if cur.storage is not None else None)
    if s.settings.eventhub.create:
        run.observe(f"event hubs namespace {s.eventhub_namespace}", "present" if cur.namespace is not None else None)
    run.observe(f"plan {s.plan_name}", getattr(getattr(cur.plan, "sku", None), "name", None)
                if cur.plan is not None else None)
    # the settings' hash covers secret values without showing them (a 16-hex digest of all of them)
    run.observe(f"function app {s.app_name}",
                [tags_of(cur.site), site_fields(cur.site_doc), cur.state, fingerprint(cur.settings)]
                if cur.site is not None else None)


def _plan_steps(s: ArmSession, model: AppModel, cur: Current, build: BuildResult | None,
                run: Steps) -> dict[str, Any]:
    """In apply order. While the site's `multicloud-config` tag matches the spec (`recorded`), whatever ARM
    reports unlike what deploy sets was changed by hand and is labelled `drift: ...`; a deleted resource is
    labelled so when the site's record or, with the site gone, the local state cache says a deploy made it."""
    rg = s.resource_group
    site_tags = tags_of(cur.site)
    recorded = cur.site is not None and site_tags.get(TAG_CONFIG) == config_hash(s, model)
    cache = read_state(s.project, "azure")
    deployed = recorded or (cur.site is None and (cache.get("app"), cache.get("resource_group")) == (s.app_name, rg))
    if cur.site is None and not deployed:
        # A first deploy: the deploy lock (lock.py) may have made the group and account since this plan
        # (with deploy.py's own bodies and tags), so ours are planned as creates either way, an idempotent
        # PUT of what they already are: a plan saved before the lock stays the plan applied under it.
        cur = replace(cur, group=None if s.owns(cur.group) else cur.group,
                      storage=None if s.owns(cur.storage) else cur.storage)
    _observe(s, run, cur)

    def gone(what: str, plain: str, known: bool = deployed) -> str:
        return label([f"{what} was deleted outside multicloud"]) if known else plain

    if cur.group is None:
        run.write("create", "resource group", rg, "group.put", {"group": rg, "id": s.rg_id(), "body": group_body(s)},
                  gone("the resource group", s.settings.location))
    else:
        run.noop("resource group", rg, s.settings.location)
    # the app's connection strings name the account: a spec that names another account is no drift
    ours = cur.site is None or f"AccountName={s.storage_account};" in cur.settings.get("AzureWebJobsStorage", "")
    storage = "Standard_LRS, AzureWebJobsStorage" + (", deployment container" if s.settings.plan == "flex" else "")
    if cur.storage is None:
        run.write("create", "storage account", s.storage_account, "storage.put_account",
                  {"account": s.storage_account, "id": account_id(s), "body": account_body(s)},
                  gone("the storage account", storage, deployed and ours))
    else:
        run.noop("storage account", s.storage_account, storage)
    extra = [] if cur.storage or not recorded else [f"storage account {s.storage_account} was deleted outside "
                                                    "multicloud (new keys)"]
    if s.settings.eventhub.create:
        ns = s.eventhub_namespace
        hubs = "hubs: " + ", ".join(sorted({st.name for st in _streams(s)}))
        if cur.namespace is None:
            run.write("create", "event hubs namespace", ns, "eventhub.put_namespace", {
                "namespace": ns, "id": f"{s.rg_id()}/providers/Microsoft.EventHub/namespaces/{ns}",
                "body": {"location": s.settings.location, "tags": s.tags(),
                         "sku": {"name": "Standard", "tier": "Standard", "capacity": 1}}},
                gone("the namespace", hubs, recorded))
            if recorded:
                extra.append(f"event hubs namespace {ns} was deleted outside multicloud (new keys)")
        else:
            run.noop("event hubs namespace", ns, hubs)
    _plan_plan(s, cur, run, recorded, gone)
    _plan_site(s, model, cur, run, recorded, extra, gone)
    code = _plan_code(s, model, cur, build, run)
    previous = code.args["previous"] if code is not None else recorded_previous(s, cur.site)
    return {"host": str(cur.site.default_host_name) if cur.site is not None else "", "previous": previous}


def _plan_plan(s: ArmSession, cur: Current, run: Steps, recorded: bool, gone: Any) -> None:
    sku = PLAN_SKUS[s.settings.plan]
    sku_text = f"{sku['tier']} ({sku['name']})"
    now = getattr(getattr(cur.plan, "sku", None), "name", None)
    args = {"plan": s.plan_name, "id": s.plan_id(), "body": {
        "location": s.settings.location, "kind": "functionapp", "tags": s.tags(), "sku": sku,
        "properties": {"reserved": True}}}
    if cur.plan is None:
        run.write("create", "plan", s.plan_name, "web.put_plan", args, gone("the plan", sku_text))
    elif now != sku["name"]:
        run.write("update", "plan", s.plan_name, "web.put_plan", args,
                  label([f"the plan's SKU was changed to {now} outside multicloud: back to {sku_text}"])
                  if recorded else sku_text, (FieldChange("sku", now, sku["name"]),))
    else:
        run.noop("plan", s.plan_name, sku_text)


def _plan_site(s: ArmSession, model: AppModel, cur: Current, run: Steps, recorded: bool, extra: list[str],
               gone: Any) -> None:
    app = s.app_name
    summary = f"{len(model.functions)} functions, settings: {', '.join(sorted(model.settings)) or 'none'}"
    if cur.site is None:
        action: Writing | None = "create"
        detail = gone("the function app", summary)
    elif not recorded:  # the spec changed since the last deploy (or the record was lost): a plain update
        action, detail = "update", summary
    else:
        drift = site_drift(_wanted(s, model, cur), _actual(cur, extra))
        action, detail = ("update", label(drift)) if drift else (None, summary)
    if action is None:
        run.noop("function app", app, summary)
        return
    plain, secret_names = wanted_settings(s, model)
    released = {k: v for k, v in tags_of(cur.site).items() if k in (TAG_CODE, TAG_PREVIOUS)}  # release.py's
    tags = s.tags(**{TAG_CODE: "", **released, TAG_CONFIG: config_hash(s, model)})
    cfg = s.settings.eventhub
    streams = _streams(s)
    eventhub = None
    if streams and cfg.create:
        eventhub = {"namespace": s.eventhub_namespace, "connection": cfg.connection,
                    "hubs": sorted({st.name for st in streams}),
                    "groups": sorted([hub, group] for hub, group in {(st.name, st.consumer_group) for st in streams}
                                     if group != "$Default")}  # every hub has $Default
    containers, queues = trigger_storage(s)
    blobs = blob_subscriptions(s, model)
    args: dict[str, Any] = {
        "site_id": s.site_id(), "account": s.storage_account, "deploy_container": s.deploy_container,
        "exists": cur.site is not None, "start": cur.site is not None and cur.state != "Running",
        "plain": plain, "secrets": secret_names, "managed_list": MANAGED_LIST, "eventhub": eventhub,
        "keep_package": s.settings.plan == "consumption",
        "needs_connection": cfg.connection if streams and not cfg.create else None,
        "body": _site_body(s, model, {}, tags, ""), "containers": containers, "queues": queues,
        # subscribed here when no code step follows (that one subscribes after publishing)
        "subscribe": blobs, "subscription_ids": subscriptions(s, blobs)}
    run.write(action, "function app", app, "web.configure_site", args, detail,
              _setting_changes(s, cur, plain, secret_names))


def _setting_changes(s: ArmSession, cur: Current, plain: dict[str, str],
                     secret_names: list[str]) -> tuple[FieldChange, ...]:
    """What changes in the app settings: plain values as they are, Key Vault references and connection
    strings as salted fingerprints (the salt is the site's id: stable between plan and apply, never a value)."""
    salt = s.site_id()
    refs = {name for name, value in plain.items() if value.startswith("@Microsoft.KeyVault(")}

    def shown(name: str, value: str | None) -> str | None:
        return None if value is None else secret_fingerprint(value, salt) if name in refs else value

    out = [FieldChange(name, shown(name, cur.settings.get(name)), shown(name, value), name in refs)
           for name, value in sorted(plain.items()) if cur.settings.get(name) != value]
    out += [FieldChange(name, secret_fingerprint(cur.settings[name], salt) if name in cur.settings else None,
                        "(read from the account's keys at apply)", True)
            for name in sorted(secret_names) if cur.site is None or name not in cur.settings]
    return tuple(out)


def _plan_code(s: ArmSession, model: AppModel, cur: Current, build: BuildResult | None, run: Steps) -> Step | None:
    if build is None:
        run.steps.append(Step("update", "code", "", "digest unknown: build first"))
        return None
    same = cur.site is not None and tags_of(cur.site).get(TAG_CODE) == build.digest
    flex = s.settings.plan == "flex"
    how = f"{'one-deploy' if flex else 'run-from-package URL'} {build.digest[:12]}"
    moved = package_drift(s, cur.settings, build.digest) if same else ""
    if same and not moved:
        run.noop("code", "", how)
        return None
    running = tags_of(cur.site).get(TAG_CODE) or None
    previous = recorded_previous(s, cur.site) if running == build.digest else running
    blobs = blob_subscriptions(s, model)
    site = run.steps[-1] if run.steps and run.steps[-1].op == "web.configure_site" else None
    if site is not None and site.args["subscribe"]:  # after the publish, not before it: move them here
        args = {**site.args, "subscribe": [], "subscription_ids": []}
        run.steps[-1] = Step(site.action, site.kind, site.id, site.detail, site.fields, site.op, args,
                             OPS[site.op].calls(args))
    run.write("update", "code", "", "web.publish", {
        "site_id": s.site_id(), "account": s.storage_account, "deploy_container": s.deploy_container,
        "flex": flex, "zip": str(build.artifacts[0].path), "digest": build.digest, "previous": previous,
        "subscribe": blobs, "subscription_ids": subscriptions(s, blobs)}, moved or how)
    return run.steps[-1]


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
    """The lock's store on a first deploy (lock.py): the same PUT as the planned step."""
    progress(f"creating resource group {s.resource_group}")
    s.resources.resource_groups.create_or_update(s.resource_group, group_body(s))


def create_storage_account(s: ArmSession, progress: Progress) -> Any:
    progress(f"creating storage account {s.storage_account}")
    return s.storage.storage_accounts.begin_create(s.resource_group, s.storage_account, account_body(s)).result()


def apply(s: ArmSession, plan: Plan, build: BuildResult, progress: Progress) -> DeployResult:
    """Run exactly the plan's steps, then record the release (state cache) and report it."""
    outputs = apply_steps(s, plan.steps, progress)
    done = [outputs[op] for op in ("web.configure_site", "web.publish") if isinstance(outputs.get(op), dict)]
    host = next((str(o["host"]) for o in reversed(done)), "") or str(plan.memo["host"])
    warnings: dict[str, str] = {}
    for o in done:
        warnings |= o["warnings"]
    remember(s, host, build.digest, plan.memo["previous"], build.artifacts[0].path)
    details = {"app": s.app_name, "resource_group": s.resource_group, "url": f"https://{host}", **warnings}
    return DeployResult("azure", build.digest[:12], plan.has_changes, endpoints(s, host), details)
