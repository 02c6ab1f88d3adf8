"""Apply: the executor table. Each planned step names one entry of `OPS` and carries its arguments as
plain data (no closures, no secret values); applying a plan runs its steps in order through this table and
makes no other write.

Each entry declares the ARM (and SCM, Blob) write requests it makes, in order, as `"METHOD path"` with the
path relative to the subscription and lower-cased (`"PUT resourcegroups/orders-rg/providers/microsoft.web/
sites/orders-1a2b3c"`), the form tests compare with the requests the labelled fake records
(tests/e2e/azure/test_azure_plan_apply.py). Reads are not listed: GETs, long-running operations' polls and
the read-only actions (list keys, list app settings, a service SAS, the host's keys). Secret values
(storage and Event Hubs connection strings) are read by the executor that sets them, at apply time: they
never enter a plan.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multicloud import drift as core
from multicloud.plan import Plan, Step
from multicloud.provider import BuildResult, DeployResult, Progress

from .arm import ArmSession, endpoints, tags_of
from .drift import ACCOUNT, SETTING, SITE, Record, items, secret_value
from .release import RUN_FROM_PACKAGE, publish, remember
from .trigger_resources import EVENTGRID_API_VERSION, subscribe_blob_triggers

Args = Mapping[str, Any]
Executor = Callable[[ArmSession, Args, Progress], object]
DEPLOYMENT_STORAGE_SETTING = "DEPLOYMENT_STORAGE_CONNECTION_STRING"  # plan.py lists it among the secrets


@dataclass(frozen=True)
class Op:
    run: Executor
    calls: Callable[[Args], tuple[str, ...]]  # the write requests `run` makes with these arguments, in order


def path(rid: str) -> str:
    """An ARM id as a call names it: relative to the subscription, lower-case."""
    parts = rid.strip("/").split("/", 2)
    return (parts[2] if len(parts) > 2 and parts[0].lower() == "subscriptions" else rid.strip("/")).lower()


def put(rid: str) -> str:
    return f"PUT {path(rid)}"


# ---- resource group, storage account, Event Hubs namespace, plan: one PUT each ----------------------------
def _put_group(s: ArmSession, args: Args, progress: Progress) -> object:
    s.resources.resource_groups.create_or_update(args["group"], dict(args["body"]))
    return None


def _put_account(s: ArmSession, args: Args, progress: Progress) -> object:
    s.storage.storage_accounts.begin_create(s.resource_group, args["account"], dict(args["body"])).result()
    return None


def _put_namespace(s: ArmSession, args: Args, progress: Progress) -> object:
    s.eventhub.namespaces.begin_create_or_update(s.resource_group, args["namespace"], dict(args["body"])).result()
    return None


def _put_plan(s: ArmSession, args: Args, progress: Progress) -> object:
    s.web.app_service_plans.begin_create_or_update(s.resource_group, args["plan"], dict(args["body"])).result()
    return None


def _one(args: Args) -> tuple[str, ...]:
    return (put(args["id"]),)


def _gone(args: Args) -> tuple[str, ...]:
    return (f"DELETE {path(args['id'])}",)


# ---- sub-resources: one request each ---------------------------------------------------------------------
def _put_container(s: ArmSession, args: Args, progress: Progress) -> object:
    s.storage.blob_containers.create(s.resource_group, args["account"], args["name"], {"properties": {}})
    return None


def _put_queue(s: ArmSession, args: Args, progress: Progress) -> object:
    s.storage.queue.create(s.resource_group, args["account"], args["name"], {"properties": {}})
    return None


def _delete_queue(s: ArmSession, args: Args, progress: Progress) -> object:
    s.storage.queue.delete(s.resource_group, args["account"], args["name"])
    return None


def _put_hub(s: ArmSession, args: Args, progress: Progress) -> object:
    s.eventhub.event_hubs.create_or_update(s.resource_group, args["namespace"], args["hub"], json_copy(args["body"]))
    return None


def _delete_hub(s: ArmSession, args: Args, progress: Progress) -> object:
    s.eventhub.event_hubs.delete(s.resource_group, args["namespace"], args["hub"])
    return None


def _put_consumer_group(s: ArmSession, args: Args, progress: Progress) -> object:
    s.eventhub.consumer_groups.create_or_update(s.resource_group, args["namespace"], args["hub"], args["group"],
                                                {"properties": {}})
    return None


def _delete_consumer_group(s: ArmSession, args: Args, progress: Progress) -> object:
    s.eventhub.consumer_groups.delete(s.resource_group, args["namespace"], args["hub"], args["group"])
    return None


def _put_subscription(s: ArmSession, args: Args, progress: Progress) -> object:
    """Its webhook carries the host's blobs_extension key, read here (after the code step: the host has it
    once it indexed a blob trigger; until then a warning, and the next deploy subscribes)."""
    host = str(s.web.web_apps.get(s.resource_group, s.app_name).default_host_name)
    return {"warnings": subscribe_blob_triggers(s, [args["blob"]], host, progress)}


def _delete_subscription(s: ArmSession, args: Args, progress: Progress) -> object:
    s.resources.resources.begin_delete_by_id(str(args["id"]).lstrip("/"), api_version=EVENTGRID_API_VERSION).result()
    return None


# ---- the function app: its site and app settings; the record -------------------------------------------
def _storage_connection(s: ArmSession, account: Any) -> str:
    keys = s.storage.storage_accounts.list_keys(s.resource_group, s.storage_account)
    key = keys["keys"][0]["value"]  # item access: `.keys` is the mapping method on these models
    ep = account.properties.primary_endpoints
    return (f"DefaultEndpointsProtocol=https;AccountName={s.storage_account};AccountKey={key};"
            f"BlobEndpoint={ep.blob};QueueEndpoint={ep.queue};TableEndpoint={ep.table}")


def account_identity(account: Any) -> str:
    """Which storage account the connection strings were made from: a recreated one has new keys."""
    return f"{account.name}@{(account.as_dict().get('properties') or {}).get('creationTime', '')}"


def _app_settings(s: ArmSession, args: Args) -> tuple[dict[str, str], Any]:
    """Connection strings from the keys (reads), the plan's plain settings; settings someone else set (not
    in the managed list the last deploy recorded) are kept."""
    rg, app = s.resource_group, s.app_name
    account = s.storage.storage_accounts.get_properties(rg, s.storage_account)
    conn = _storage_connection(s, account)
    values = {"AzureWebJobsStorage": conn, DEPLOYMENT_STORAGE_SETTING: conn}
    hub = args["eventhub"]
    if hub:
        keys = s.eventhub.namespaces.list_keys(rg, hub["namespace"], "RootManageSharedAccessKey")
        values[str(hub["connection"])] = keys.primary_connection_string
    secrets = {name: values[name] for name in args["secrets"]}
    managed = secrets | dict(args["plain"])
    settings = dict(managed)
    if args["exists"]:
        current = dict(s.web.web_apps.list_application_settings(rg, app).properties or {})
        ours_before = set((current.get(args["managed_list"]) or "").split(","))
        settings = {k: v for k, v in current.items() if k not in ours_before} | managed
        if args["keep_package"] and RUN_FROM_PACKAGE in current:  # set by the code step (Consumption)
            settings[RUN_FROM_PACKAGE] = current[RUN_FROM_PACKAGE]
    return settings, account


def _put_site(s: ArmSession, args: Args, progress: Progress) -> object:
    """The site with every app setting (its tags: ours, the release's and the record as it was), the
    settings, a start when stopped."""
    rg, app = s.resource_group, s.app_name
    settings, account = _app_settings(s, args)
    body: dict[str, Any] = json_copy(args["body"])
    props = body["properties"]
    props["siteConfig"]["appSettings"] = [{"name": k, "value": v} for k, v in sorted(settings.items())]
    if "functionAppConfig" in props:
        blob = str(account.properties.primary_endpoints.blob).rstrip("/")
        props["functionAppConfig"]["deployment"]["storage"]["value"] = f"{blob}/{args['deploy_container']}"
    site = s.web.web_apps.begin_create_or_update(rg, app, body).result()
    s.web.web_apps.update_application_settings(rg, app, {"properties": settings})
    if args["start"]:
        s.web.web_apps.start(rg, app)
    return {"host": str(site.default_host_name), "warnings": _warnings(args, settings)}


def _site_calls(args: Args) -> tuple[str, ...]:
    site = args["site_id"]
    return (put(site), put(f"{site}/config/appsettings"), *([f"POST {path(site)}/start"] if args["start"] else []))


def _put_settings(s: ArmSession, args: Args, progress: Progress) -> object:
    """Only the app settings."""
    settings, _account = _app_settings(s, args)
    s.web.web_apps.update_application_settings(s.resource_group, s.app_name, {"properties": settings})
    return {"warnings": _warnings(args, settings)}


def _settings_calls(args: Args) -> tuple[str, ...]:
    return (put(f"{args['site_id']}/config/appsettings"),)


def _tag_record(s: ArmSession, args: Args, progress: Progress) -> object:
    _merge_tags(s, record_tags(s, args["record"]))
    return None


def record_tags(s: ArmSession, record: Args) -> dict[str, str]:
    """The record's tags, written by the last write of a deploy (so it names only what was made). What the
    plan could not know is read now (reads only): the hashes of the connection strings the settings steps
    set, the identity of the account they came from, a new account's deployment storage."""
    made = core.Record(None, json_copy(record["entries"]))
    if record["secrets"]:
        rg = s.resource_group
        values = dict(s.web.web_apps.list_application_settings(rg, s.app_name).properties or {})
        made.check(SETTING, {}, items({n: secret_value(n, values[n]) for n in record["secrets"] if n in values}))
        account = s.storage.storage_accounts.get_properties(rg, s.storage_account)
        made.check(ACCOUNT, {}, items({ACCOUNT: account_identity(account)}))
        if record["deployment_storage"]:
            blob = str(account.properties.primary_endpoints.blob).rstrip("/")
            made.check(SITE, {}, items({"deployment storage": f"{blob}/{s.deploy_container}"}))
    return Record.tags_of(made.entries, dict.fromkeys(record["before"], ""))


def _merge_tags(s: ArmSession, tags: dict[str, str]) -> None:
    s.resources.tags.begin_update_at_scope(
        s.site_id().lstrip("/"), {"operation": "Merge", "properties": {"tags": tags}}).result()


def _tags_call(args: Args) -> str:
    return f"PATCH {path(args['site_id'])}/providers/microsoft.resources/tags/default"


def _warnings(args: Args, settings: Mapping[str, str]) -> dict[str, str]:
    name = args.get("needs_connection")
    if name and name not in settings and f"{name}__fullyQualifiedNamespace" not in settings:
        return {"warning": f"app setting {name} is not set: Event Hubs functions cannot connect until you set it "
                           f"to the hub's connection string (or set eventhub.namespace / create)"}
    return {}


# ---- code ----------------------------------------------------------------------------------------------
def _publish(s: ArmSession, args: Args, progress: Progress) -> object:
    """The package (one-deploy on Flex, a package URL on Consumption), then the site's release tags (and the
    record, when this step is the deploy's last write)."""
    site = s.web.web_apps.get(s.resource_group, s.app_name)
    tags = record_tags(s, args["record"]) if args["record"] else {}
    publish(s, site, Path(args["zip"]), args["digest"], args["previous"], progress, tags)
    return {"host": str(site.default_host_name)}


def _publish_calls(args: Args) -> tuple[str, ...]:
    site = path(args["site_id"])
    if args["flex"]:
        out = ["POST scm:/api/publish"]
    else:
        out = [f"PUT blob:/{args['account']}/{args['deploy_container']}/{args['digest']}.zip",
               f"PUT {site}/config/appsettings", f"POST {site}/syncfunctiontriggers"]
    return (*out, _tags_call(args))


OPS: dict[str, Op] = {
    "group.put": Op(_put_group, _one),
    "storage.put_account": Op(_put_account, _one),
    "storage.put_container": Op(_put_container, _one),
    "storage.put_queue": Op(_put_queue, _one),
    "storage.delete_queue": Op(_delete_queue, _gone),
    "eventhub.put_namespace": Op(_put_namespace, _one),
    "eventhub.put_hub": Op(_put_hub, _one),
    "eventhub.delete_hub": Op(_delete_hub, _gone),
    "eventhub.put_group": Op(_put_consumer_group, _one),
    "eventhub.delete_group": Op(_delete_consumer_group, _gone),
    "web.put_plan": Op(_put_plan, _one),
    "web.put_site": Op(_put_site, _site_calls),
    "web.put_settings": Op(_put_settings, _settings_calls),
    "web.publish": Op(_publish, _publish_calls),
    "web.tag_record": Op(_tag_record, lambda args: (_tags_call(args),)),
    "eventgrid.put_subscription": Op(_put_subscription, _one),
    "eventgrid.delete_subscription": Op(_delete_subscription, _gone),
}


def json_copy(value: Any) -> Any:
    """A deep copy of plan data (dicts and lists), so an executor never changes the plan's args."""
    if isinstance(value, Mapping):
        return {k: json_copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_copy(v) for v in value]
    return value


def execute(s: ArmSession, step: Step, progress: Progress) -> object:
    progress(f"{step.action} {step.resource}" + (f" ({step.detail})" if step.detail else ""))
    return OPS[step.op].run(s, step.args, progress)


def apply_steps(s: ArmSession, steps: tuple[Step, ...], progress: Progress) -> list[object]:
    """Execute every step with an executor, in order; their answers, for what the deploy reports."""
    return [execute(s, step, progress) for step in steps if step.op]


def apply(s: ArmSession, plan: Plan, build: BuildResult, progress: Progress) -> DeployResult:
    """Run exactly the plan's steps, then record the release (state cache) and report it."""
    done = [o for o in apply_steps(s, plan.steps, progress) if isinstance(o, dict)]
    host = next((str(o["host"]) for o in reversed(done) if o.get("host")), "") or str(plan.memo["host"])
    warnings: dict[str, str] = {}
    for o in done:
        warnings |= o.get("warnings") or {}
    site = s.web.web_apps.get(s.resource_group, s.app_name)  # a read: the record as this deploy left it
    remember(s, host, build.digest, plan.memo["previous"], build.artifacts[0].path, tags_of(site))
    details = {"app": s.app_name, "resource_group": s.resource_group, "url": f"https://{host}", **warnings}
    return DeployResult("azure", build.digest[:12], plan.has_changes, endpoints(s, host), details)


def create_group(s: ArmSession, body: dict[str, Any], progress: Progress) -> None:
    """The lock's store on a first deploy (lock.py): the same PUT as the planned step."""
    progress(f"creating resource group {s.resource_group}")
    _put_group(s, {"group": s.resource_group, "body": body}, progress)


def create_storage_account(s: ArmSession, body: dict[str, Any], progress: Progress) -> None:
    progress(f"creating storage account {s.storage_account}")
    _put_account(s, {"account": s.storage_account, "body": body}, progress)
