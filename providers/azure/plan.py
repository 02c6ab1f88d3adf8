"""Plan: what ARM reports now against what the spec wants, as steps (reads only, never a write).

One step per resource, in apply order: resource group, storage account, the deployment container, Event Hubs
namespace, hubs and consumer groups, plan, the function app (a PUT of the site when the site itself differs)
or only its app settings (when only they do), the triggers' blob containers and queues, the code, then (Flex)
one Event Grid subscription per blob trigger, and last the drift record (drift.py), as the code step's tag
merge when that is the last write, else as a step of its own. Each is `create`, `update`, `delete` or `noop`
from what ARM reports: a sub-resource the last deploy made (the drift record says so) and the spec no longer
wants is deleted (queues and their poison queues, hubs, consumer groups, subscriptions); blob containers are
kept (they hold the user's blobs). A write step names its executor in `apply.OPS` with plain-data arguments
and the write requests it makes; apply.py runs exactly those.

Secret values (storage keys, Event Hubs connection strings) never enter a plan: the executor that sets them
reads the keys; a plan shows secret-valued settings and Key Vault references as fingerprints
(`FieldChange(secret=True)`). Drift labels come from the shared record (drift.py: the site's tags).
`observed` fingerprints what identifies the deployment now (each resource, the site's tags, configuration
and settings, each sub-resource), so a saved plan is refused once any of it changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from multicloud import drift as core
from multicloud.plan import FieldChange, Step, fingerprint, secret_fingerprint
from multicloud.provider import BuildResult, Plan, Progress
from multicloud.spec.models import StreamTrigger
from multicloud.state import read_state

from .app import AppModel, app_model
from .apply import DEPLOYMENT_STORAGE_SETTING, OPS, account_identity
from .arm import TAG_CODE, TAG_PREVIOUS, ArmSession, get_or_none, tags_of
from .drift import (
    ACCOUNT,
    SETTING,
    SITE,
    STATE,
    TAG_ITEM,
    UNKNOWN,
    Record,
    View,
    compare,
    items,
    label,
    secret_value,
    site_fields,
    stored,
)
from .release import package_drift, recorded_previous
from .sub_resources import SubResources, account_id, read_subscriptions
from .trigger_resources import trigger_storage

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
    containers: frozenset[str] = frozenset()  # of those the deploy wants, the ones that exist
    queues: frozenset[str] = frozenset()  # every queue in the account
    hubs: dict[str, frozenset[str]] = field(default_factory=dict)  # hub -> its consumer groups (create: true)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> filter (Flex)

    @property
    def state(self) -> str:
        """Running or Stopped (ARM's `state` of the site)."""
        value = getattr(self.site, "state", None)
        return str(getattr(value, "value", value) or "Running")


def _read(s: ArmSession, model: AppModel) -> Current:
    """Reads only: GETs and lists, and the app settings' list action (a POST that changes nothing)."""
    group = get_or_none(s.resources.resource_groups.get, s.resource_group)
    if group is None:
        return Current(None, None, None, None, None)
    rg, acct = s.resource_group, s.storage_account
    site = get_or_none(s.web.web_apps.get, rg, s.app_name)
    settings: dict[str, str] = {}
    doc: dict[str, Any] = {}
    if site is not None:
        settings = dict(s.web.web_apps.list_application_settings(rg, s.app_name).properties or {})
        doc = site.as_dict()
        config = s.web.web_apps.get_configuration(rg, s.app_name).as_dict().get("properties") or {}
        props = doc.setdefault("properties", {})
        props["siteConfig"] = {**(props.get("siteConfig") or {}), **config}
    storage = get_or_none(s.storage.storage_accounts.get_properties, rg, acct)
    containers: set[str] = set()
    queues: set[str] = set()
    subs: dict[str, dict[str, Any]] = {}
    if storage is not None:
        for name in [s.deploy_container, *trigger_storage(s)[0]]:
            if get_or_none(s.storage.blob_containers.get, rg, acct, name) is not None:
                containers.add(name)
        queues = {str(q.name) for q in s.storage.queue.list(rg, acct)}
        if s.settings.plan == "flex":
            subs = read_subscriptions(s, storage)
    namespace = get_or_none(s.eventhub.namespaces.get, rg, s.eventhub_namespace) if s.settings.eventhub.create \
        else None
    hubs: dict[str, frozenset[str]] = {}
    if namespace is not None:
        ns = s.eventhub_namespace
        groups = s.eventhub.consumer_groups.list_by_event_hub
        hubs = {str(h.name): frozenset(str(g.name) for g in groups(rg, ns, h.name))
                for h in s.eventhub.event_hubs.list_by_namespace(rg, ns)}
    return Current(group, storage, namespace, get_or_none(s.web.app_service_plans.get, rg, s.plan_name), site,
                   settings, doc, frozenset(containers), frozenset(queues), hubs, subs)


@dataclass
class Steps:
    """The steps planned so far; each write names its executor and the requests it makes (`apply.OPS`)."""

    steps: list[Step] = field(default_factory=list)
    observed: dict[str, str] = field(default_factory=dict)

    def write(self, action: Writing, kind: str, ident: str, op: str, args: dict[str, Any], detail: str = "",
              fields: tuple[FieldChange, ...] = ()) -> Step:
        self.steps.append(Step(action, kind, ident, detail, fields, op, args, OPS[op].calls(args)))
        return self.steps[-1]

    def noop(self, kind: str, ident: str, detail: str = "") -> None:
        self.steps.append(Step("noop", kind, ident, detail))

    def observe(self, resource: str, value: object) -> None:
        self.observed[resource] = fingerprint(value) if value is not None else "missing"

    def replace(self, step: Step, args: dict[str, Any]) -> None:
        """`step` with other arguments (and so the requests they make)."""
        self.steps[self.steps.index(step)] = replace(step, args=args, calls=OPS[step.op].calls(args))


def group_body(s: ArmSession) -> dict[str, Any]:
    return {"location": s.settings.location, "tags": s.tags()}


def account_body(s: ArmSession) -> dict[str, Any]:
    """The app's storage account (AzureWebJobsStorage, the deployment container, the deploy lock)."""
    return {"location": s.settings.location, "kind": "StorageV2", "sku": {"name": "Standard_LRS"}, "tags": s.tags(),
            "properties": {"minimumTlsVersion": "TLS1_2", "allowBlobPublicAccess": False}}


def plan(s: ArmSession, build: BuildResult | None, progress: Progress) -> Plan:
    model = app_model(s.project)
    planner = Planner(s, model, _read(s, model), build)
    memo = planner.steps()
    return Plan("azure", tuple(planner.run.steps), observed=dict(planner.run.observed), memo=memo)


class Planner(SubResources):
    """The walk over the resources, in apply order. The record (drift.py) the last deploy made tells a
    change made by hand from a change of the spec; the one this deploy makes (`made`) is written by the
    step that writes the site's settings, else by the code step's tag merge, else by a step of its own."""

    def __init__(self, s: ArmSession, model: AppModel, cur: Current, build: BuildResult | None) -> None:
        self.s, self.model, self.build, self.run = s, model, build, Steps()
        cache = read_state(s.project, "azure")
        self.tags = tags_of(cur.site)
        self.record = Record.of(self.tags if cur.site is not None else None,
                                cache.get("record") if cur.site is None else None)
        self.known = self.record.recorded is not None
        # the site gone: this checkout's state cache says whether a deploy made it
        cached = (cache.get("app"), cache.get("resource_group")) == (s.app_name, s.resource_group)
        self.deployed = self.known or (cur.site is None and cached)
        if cur.site is None and not self.deployed:
            # A first deploy: the deploy lock (lock.py) may have made the group and account since this plan
            # (with this module's bodies and tags), so ours are planned as creates either way, an idempotent
            # PUT of what they already are: a plan saved before the lock stays the plan applied under it.
            cur = replace(cur, group=None if s.owns(cur.group) else cur.group,
                          storage=None if s.owns(cur.storage) else cur.storage,
                          containers=frozenset() if s.owns(cur.storage) else cur.containers)
        self.cur = cur
        self.made = core.Record(None)

    def gone(self, what: str, plain: str, known: bool | None = None) -> str:
        return label([f"{what} was deleted outside multicloud"]) if (self.deployed if known is None else known) \
            else plain

    def steps(self) -> dict[str, Any]:
        s, cur, run = self.s, self.cur, self.run
        self._observe()
        rg = s.resource_group
        if cur.group is None:
            run.write("create", "resource group", rg, "group.put", {"group": rg, "id": s.rg_id(),
                                                                    "body": group_body(s)},
                      self.gone("the resource group", s.settings.location))
        else:
            run.noop("resource group", rg, s.settings.location)
        # the app's connection strings name the account: a spec that names another account is no drift
        ours = cur.site is None or f"AccountName={s.storage_account};" in cur.settings.get("AzureWebJobsStorage", "")
        if cur.storage is None:
            run.write("create", "storage account", s.storage_account, "storage.put_account",
                      {"account": s.storage_account, "id": account_id(s), "body": account_body(s)},
                      self.gone("the storage account", "Standard_LRS", self.deployed and ours))
        else:
            run.noop("storage account", s.storage_account, "Standard_LRS")
        self._containers([s.deploy_container], "deployment package")
        streams = _streams(s)
        if s.settings.eventhub.create:
            self._namespace(streams)
        self._plan_plan()
        self._site()
        containers, queues = trigger_storage(s)
        self._containers(containers, "watched by a blob trigger")
        self._queues(queues)
        code = self._code()
        self._subscriptions()
        self._record(code)
        previous = code.args["previous"] if code is not None else recorded_previous(s, cur.site)
        return {"host": str(cur.site.default_host_name) if cur.site is not None else "", "previous": previous}

    def _observe(self) -> None:
        """What identifies the deployment now: a saved plan is refused when any of it changed before apply."""
        s, cur, run = self.s, self.cur, self.run
        run.observe(f"resource group {s.resource_group}", "present" if cur.group is not None else None)
        run.observe(f"storage account {s.storage_account}",
                    account_identity(cur.storage) if cur.storage is not None else None)
        if s.settings.eventhub.create:
            run.observe(f"event hubs namespace {s.eventhub_namespace}",
                        "present" if cur.namespace is not None else None)
        run.observe(f"plan {s.plan_name}", getattr(getattr(cur.plan, "sku", None), "name", None)
                    if cur.plan is not None else None)
        # the settings' hash covers secret values without showing them (a 16-hex digest of all of them)
        run.observe(f"function app {s.app_name}",
                    [self.tags, site_fields(cur.site_doc), cur.state, fingerprint(cur.settings)]
                    if cur.site is not None else None)
        # each sub-resource is observed where it is planned (`_present`, and the deletes)

    def _namespace(self, streams: list[StreamTrigger]) -> None:
        s, cur, run = self.s, self.cur, self.run
        ns = s.eventhub_namespace
        ns_id = f"{s.rg_id()}/providers/Microsoft.EventHub/namespaces/{ns}"
        if cur.namespace is None:
            run.write("create", "event hubs namespace", ns, "eventhub.put_namespace", {
                "namespace": ns, "id": ns_id, "body": {"location": s.settings.location, "tags": s.tags(),
                                                       "sku": {"name": "Standard", "tier": "Standard", "capacity": 1}}},
                self.gone("the namespace", "Standard", self.known))
        else:
            run.noop("event hubs namespace", ns, "Standard")
        self._hubs(streams)

    def _plan_plan(self) -> None:
        s, cur, run = self.s, self.cur, self.run
        sku = PLAN_SKUS[s.settings.plan]
        sku_text = f"{sku['tier']} ({sku['name']})"
        now = getattr(getattr(cur.plan, "sku", None), "name", None)
        args = {"plan": s.plan_name, "id": s.plan_id(), "body": {
            "location": s.settings.location, "kind": "functionapp", "tags": s.tags(), "sku": sku,
            "properties": {"reserved": True}}}
        if cur.plan is None:
            run.write("create", "plan", s.plan_name, "web.put_plan", args, self.gone("the plan", sku_text))
        elif now != sku["name"]:
            run.write("update", "plan", s.plan_name, "web.put_plan", args,
                      label([f"the plan's SKU was changed to {now} outside multicloud: back to {sku_text}"])
                      if self.known else sku_text, (FieldChange("sku", now, sku["name"]),))
        else:
            run.noop("plan", s.plan_name, sku_text)

    # ---- the function app: the site, or only its app settings ----------------------------------------
    def _site(self) -> None:
        s, model, cur, run = self.s, self.model, self.cur, self.run
        app = s.app_name
        plain, secret_names = wanted_settings(s, model)
        summary = f"{len(model.functions)} functions, settings: {', '.join(sorted(model.settings)) or 'none'}"
        want_site = self._wanted_site()
        self.made.check(SETTING, {}, items(plain))
        self.made.check(SITE, {}, items(want_site))
        extra = []
        if self.known and cur.storage is None:
            extra.append(f"storage account {s.storage_account} was deleted outside multicloud (new keys)")
        if self.known and s.settings.eventhub.create and _streams(s) and cur.namespace is None:
            extra.append(f"event hubs namespace {s.eventhub_namespace} was deleted outside multicloud (new keys)")
        now_settings = {n: secret_value(n, cur.settings[n]) if n in secret_names else cur.settings[n]
                        for n in [*plain, *secret_names] if n in cur.settings}
        now_site = {**site_fields(cur.site_doc), STATE: cur.state,
                    **{TAG_ITEM + k: v for k, v in self.tags.items()}}
        account = account_identity(cur.storage) if cur.storage is not None else None
        diff = compare(self.record, View({**plain, **{n: UNKNOWN for n in secret_names}}, want_site),
                       View(now_settings, now_site, account), secret_names, extra)
        new_keys = cur.storage is None or (s.settings.eventhub.create and _streams(s) and cur.namespace is None)
        changes = _setting_changes(s, cur, plain, secret_names)
        args = self._settings_args(plain, secret_names)
        if cur.site is None:
            run.write("create", "function app", app, "web.put_site", args,
                      self.gone("the function app", summary), changes)
        elif diff.site:
            run.write("update", "function app", app, "web.put_site", args, label(diff.drift) or summary, changes)
        elif diff.settings or new_keys:
            run.write("update", "app settings", app, "web.put_settings", args,
                      label(diff.drift) or ", ".join(sorted(diff.settings)), changes)
        else:
            run.noop("function app", app, summary)
            # nothing rewrites the secrets: the record keeps what they are now
            self.made.check(SETTING, {}, items({n: now_settings[n] for n in secret_names if n in now_settings}))
            if account is not None:
                self.made.check(ACCOUNT, {}, items({ACCOUNT: account}))

    def _wanted_site(self) -> dict[str, object]:
        s, cur = self.s, self.cur
        blob = cur.storage.properties.primary_endpoints.blob if cur.storage is not None else None
        site = site_fields(_site_body(self.s, self.model, {}, {}, blob or ""))
        if blob is None:  # a new account: the deployment storage follows it (recorded at apply)
            site.pop("deployment storage", None)
        return {**site, STATE: "Running", **{TAG_ITEM + k: v for k, v in s.tags().items()}}

    def _settings_args(self, plain: dict[str, str], secret_names: list[str]) -> dict[str, Any]:
        s, cur = self.s, self.cur
        cfg = s.settings.eventhub
        streams = _streams(s)
        kept = {k: v for k, v in self.tags.items() if k in (TAG_CODE, TAG_PREVIOUS) or k in stored(self.tags)}
        tags = s.tags(**{TAG_CODE: "", **kept})  # the release's tags (release.py) and the record stay as they are
        return {
            "site_id": s.site_id(), "account": s.storage_account, "deploy_container": s.deploy_container,
            "exists": cur.site is not None, "start": cur.site is not None and cur.state != "Running",
            "plain": plain, "secrets": secret_names, "managed_list": MANAGED_LIST,
            "eventhub": {"namespace": s.eventhub_namespace, "connection": cfg.connection}
            if streams and cfg.create else None,
            "keep_package": s.settings.plan == "consumption",
            "needs_connection": cfg.connection if streams and not cfg.create else None,
            "body": _site_body(s, self.model, {}, tags, "")}

    # ---- code, and the record -----------------------------------------------------------------------
    def _code(self) -> Step | None:
        s, cur, build, run = self.s, self.cur, self.build, self.run
        if build is None:
            run.steps.append(Step("update", "code", "", "digest unknown: build first"))
            return None
        same = cur.site is not None and self.tags.get(TAG_CODE) == build.digest
        flex = s.settings.plan == "flex"
        how = f"{'one-deploy' if flex else 'run-from-package URL'} {build.digest[:12]}"
        moved = package_drift(s, cur.settings, build.digest) if same else ""
        if same and not moved:
            run.noop("code", "", how)
            return None
        running = self.tags.get(TAG_CODE) or None
        previous = recorded_previous(s, cur.site) if running == build.digest else running
        return run.write("update", "code", "", "web.publish", {
            "site_id": s.site_id(), "account": s.storage_account, "deploy_container": s.deploy_container,
            "flex": flex, "zip": str(build.artifacts[0].path), "digest": build.digest, "previous": previous,
            "record": None}, moved or how)

    def _record(self, code: Step | None) -> None:
        """The record this deploy makes is written by its last write, once everything before it succeeded
        (a failed deploy leaves the previous record, never one naming what was not made): the code step's
        tag merge when nothing follows it, else a `drift record` step. Nothing is written when the record
        is as stored and no step sets connection strings (whose new values only apply can hash)."""
        writes = [st for st in self.run.steps if st.op]
        secrets = any(st.op in ("web.put_site", "web.put_settings") for st in writes)
        if not secrets and self.made.made == (self.record.recorded or {}):
            return
        record = {"entries": {k: list(v) for k, v in self.made.entries.items()},
                  "secrets": wanted_settings(self.s, self.model)[1] if secrets else [],
                  "deployment_storage": secrets and self.s.settings.plan == "flex" and self.cur.storage is None,
                  "before": sorted(stored(self.tags))}
        if code is not None and writes[-1] is code:
            self.run.replace(code, {**code.args, "record": record})
            return
        why = ("no record yet" if not self.known else "the connection strings set again" if secrets else
               "what multicloud made changed")
        self.run.write("update", "drift record", self.s.app_name, "web.tag_record",
                       {"site_id": self.s.site_id(), "record": record}, why)


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


