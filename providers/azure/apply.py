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

from multicloud.plan import Step
from multicloud.provider import Progress

from .arm import ArmSession
from .drift import TAG_FINGERPRINTS, fingerprints
from .release import RUN_FROM_PACKAGE, publish
from .trigger_resources import create_trigger_storage, subscribe_blob_triggers, subscription_id

Args = Mapping[str, Any]
Executor = Callable[[ArmSession, Args, Progress], object]
DEPLOYMENT_STORAGE_SETTING = "DEPLOYMENT_STORAGE_CONNECTION_STRING"  # deploy.py lists it among the secrets


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


# ---- the function app: its site, app settings and what its triggers need --------------------------------
def _storage_connection(s: ArmSession, account: Any) -> str:
    keys = s.storage.storage_accounts.list_keys(s.resource_group, s.storage_account)
    key = keys["keys"][0]["value"]  # item access: `.keys` is the mapping method on these models
    ep = account.properties.primary_endpoints
    return (f"DefaultEndpointsProtocol=https;AccountName={s.storage_account};AccountKey={key};"
            f"BlobEndpoint={ep.blob};QueueEndpoint={ep.queue};TableEndpoint={ep.table}")


def account_identity(account: Any) -> str:
    """Which storage account the connection strings were made from: a recreated one has new keys."""
    return f"{account.name}@{(account.as_dict().get('properties') or {}).get('creationTime', '')}"


def _eventhubs(s: ArmSession, cfg: Mapping[str, Any]) -> dict[str, str]:
    """Hubs and consumer groups in the namespace, and the namespace's connection string (a read)."""
    rg, ns = s.resource_group, cfg["namespace"]
    for hub in cfg["hubs"]:
        s.eventhub.event_hubs.create_or_update(rg, ns, hub, {"properties": {"partitionCount": 2,
                                                                             "messageRetentionInDays": 1}})
    for hub, group in cfg["groups"]:
        s.eventhub.consumer_groups.create_or_update(rg, ns, hub, group, {"properties": {}})
    keys = s.eventhub.namespaces.list_keys(rg, ns, "RootManageSharedAccessKey")
    return {str(cfg["connection"]): keys.primary_connection_string}


def _configure_site(s: ArmSession, args: Args, progress: Progress) -> object:
    """Deployment container, Event Hubs, the site with every app setting, then the triggers' storage.

    Settings someone else set (not in the managed list the last deploy recorded) are kept."""
    rg, app = s.resource_group, s.app_name
    s.storage.blob_containers.create(rg, s.storage_account, args["deploy_container"], {"properties": {}})
    account = s.storage.storage_accounts.get_properties(rg, s.storage_account)
    conn = _storage_connection(s, account)
    values = {"AzureWebJobsStorage": conn, DEPLOYMENT_STORAGE_SETTING: conn}
    if args["eventhub"]:
        values |= _eventhubs(s, args["eventhub"])
    secrets = {name: values[name] for name in args["secrets"]}
    managed = secrets | dict(args["plain"])
    settings = dict(managed)
    if args["exists"]:
        current = dict(s.web.web_apps.list_application_settings(rg, app).properties or {})
        ours_before = set((current.get(args["managed_list"]) or "").split(","))
        settings = {k: v for k, v in current.items() if k not in ours_before} | managed
        if args["keep_package"] and RUN_FROM_PACKAGE in current:  # set by the code step (Consumption)
            settings[RUN_FROM_PACKAGE] = current[RUN_FROM_PACKAGE]
    body: dict[str, Any] = json_copy(args["body"])
    body["tags"] = {**body["tags"], TAG_FINGERPRINTS: fingerprints(secrets, account_identity(account))}
    props = body["properties"]
    props["siteConfig"]["appSettings"] = [{"name": k, "value": v} for k, v in sorted(settings.items())]
    if "functionAppConfig" in props:
        blob = str(account.properties.primary_endpoints.blob).rstrip("/")
        props["functionAppConfig"]["deployment"]["storage"]["value"] = f"{blob}/{args['deploy_container']}"
    site = s.web.web_apps.begin_create_or_update(rg, app, body).result()
    s.web.web_apps.update_application_settings(rg, app, {"properties": settings})
    if args["start"]:
        s.web.web_apps.start(rg, app)
    create_trigger_storage(s, list(args["containers"]), list(args["queues"]))
    host = str(site.default_host_name)
    warnings = _warnings(s, args, settings)
    if args["subscribe"]:
        warnings |= subscribe_blob_triggers(s, list(args["subscribe"]), host, progress)
    return {"host": host, "warnings": warnings}


def _warnings(s: ArmSession, args: Args, settings: Mapping[str, str]) -> dict[str, str]:
    name = args.get("needs_connection")
    if name and name not in settings and f"{name}__fullyQualifiedNamespace" not in settings:
        return {"warning": f"app setting {name} is not set: Event Hubs functions cannot connect until you set it "
                           f"to the hub's connection string (or set eventhub.namespace / create)"}
    return {}


def _site_calls(args: Args) -> tuple[str, ...]:
    account = f"{_group_id(args)}/providers/Microsoft.Storage/storageAccounts/{args['account']}"
    site = args["site_id"]
    out = [put(f"{account}/blobServices/default/containers/{args['deploy_container']}")]
    if args["eventhub"]:
        ns = f"{_group_id(args)}/providers/Microsoft.EventHub/namespaces/{args['eventhub']['namespace']}"
        out += [put(f"{ns}/eventhubs/{hub}") for hub in args["eventhub"]["hubs"]]
        out += [put(f"{ns}/eventhubs/{hub}/consumergroups/{group}") for hub, group in args["eventhub"]["groups"]]
    out += [put(site), put(f"{site}/config/appsettings")]
    if args["start"]:
        out.append(f"POST {path(site)}/start")
    out += [put(f"{account}/blobServices/default/containers/{c}") for c in args["containers"]]
    out += [put(f"{account}/queueServices/default/queues/{q}") for q in args["queues"]]
    return (*out, *_subscribe_calls(args))


def _subscribe_calls(args: Args) -> tuple[str, ...]:
    return tuple(put(sub) for sub in args["subscription_ids"])


def _group_id(args: Args) -> str:
    return str(args["site_id"]).split("/providers/", 1)[0]


# ---- code ----------------------------------------------------------------------------------------------
def _publish(s: ArmSession, args: Args, progress: Progress) -> object:
    """The package (one-deploy on Flex, a package URL on Consumption), the site's release tags, then (Flex)
    the blob triggers' Event Grid subscriptions, which need the host to have indexed the new code."""
    site = s.web.web_apps.get(s.resource_group, s.app_name)
    publish(s, site, Path(args["zip"]), args["digest"], args["previous"], progress)
    host = str(site.default_host_name)
    warnings = subscribe_blob_triggers(s, list(args["subscribe"]), host, progress) if args["subscribe"] else {}
    return {"host": host, "warnings": warnings}


def _publish_calls(args: Args) -> tuple[str, ...]:
    site = path(args["site_id"])
    if args["flex"]:
        out = ["POST scm:/api/publish"]
    else:
        out = [f"PUT blob:/{args['account']}/{args['deploy_container']}/{args['digest']}.zip",
               f"PUT {site}/config/appsettings", f"POST {site}/syncfunctiontriggers"]
    return (*out, f"PATCH {site}/providers/microsoft.resources/tags/default", *_subscribe_calls(args))


OPS: dict[str, Op] = {
    "group.put": Op(_put_group, _one),
    "storage.put_account": Op(_put_account, _one),
    "eventhub.put_namespace": Op(_put_namespace, _one),
    "web.put_plan": Op(_put_plan, _one),
    "web.configure_site": Op(_configure_site, _site_calls),
    "web.publish": Op(_publish, _publish_calls),
}


def subscriptions(s: ArmSession, blobs: list[dict[str, str]]) -> list[str]:
    return [subscription_id(s, b["function"]) for b in blobs]


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


def apply_steps(s: ArmSession, steps: tuple[Step, ...], progress: Progress) -> dict[str, Any]:
    """Execute every step with an executor, in order; their answers by op, for what the deploy reports."""
    outputs: dict[str, Any] = {}
    for step in steps:
        if step.op:
            outputs[step.op] = execute(s, step, progress)
    return outputs
