"""Day-2 operations on a deployed app: status, the platform's deployment log, rollback and remove.

`remove` deletes only what carries multicloud's ownership tags, and the resource group only when it is
ours and nothing else is left in it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

from multicloud.errors import OperationError, UnsupportedError
from multicloud.provider import DeployResult, FunctionStatus, LogRecord, Progress, RemoveResult, StatusReport
from multicloud.state import read_state

from .app import app_model
from .arm import TAG_CODE, ArmSession, endpoints, get_or_none, tags_of
from .publish import deployment_log, scm_client, scm_host
from .release import publish, recorded_previous, releases_dir, remember
from .trigger_resources import EVENTGRID_API_VERSION, subscription_name


def status(s: ArmSession) -> StatusReport:
    site = get_or_none(s.web.web_apps.get, s.resource_group, s.app_name)
    if site is None:
        return StatusReport("azure", False, details={"app": s.app_name, "resource_group": s.resource_group})
    model = app_model(s.project)
    deployed = {str(f.name).rsplit("/", 1)[-1] for f in s.web.web_apps.list_functions(s.resource_group, s.app_name)}
    state = str(site.state or "unknown").lower()
    urls = {e.function: e.url for e in endpoints(s, str(site.default_host_name))}
    out = []
    for f in model.functions:
        out.append(FunctionStatus(f.spec_function if f.name == f.spec_function else f"{f.spec_function} ({f.name})",
                                  state if f.name in deployed else "missing",
                                  tags_of(site).get(TAG_CODE, "")[:12] or None,
                                  urls.get(f.spec_function) if f.kind == "http" else None))
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
                sub_id = f"{account.id}/providers/Microsoft.EventGrid/eventSubscriptions/{subscription_name(f.name)}"
                try:
                    s.resources.resources.begin_delete_by_id(sub_id.lstrip("/"),
                                                             api_version=EVENTGRID_API_VERSION).result()
                    removed.append(f"event grid subscription {subscription_name(f.name)}")
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


def rollback(s: ArmSession, progress: Progress) -> DeployResult:
    """Publish the package that ran before the current one (code only: settings stay as they are)."""
    site = get_or_none(s.web.web_apps.get, s.resource_group, s.app_name)
    if site is None:
        raise OperationError(f"function app {s.app_name} does not exist", fix="deploy first")
    previous = recorded_previous(s, site)
    redeploy = "deploy the earlier version of the code again (multicloud deploy --target azure)"
    if not previous:
        raise OperationError(f"no previous release of function app {s.app_name} is known", fix=redeploy,
                             where=s.site_id())
    package = releases_dir(s) / f"{previous}.zip"
    if not package.is_file():
        raise OperationError(
            f"the previous release {previous[:12]} of function app {s.app_name} is not on this machine: only a "
            f"machine that deployed it keeps its package",
            fix=f"run rollback from the checkout that deployed it, or {redeploy}", where=str(releases_dir(s)))
    current = tags_of(site).get(TAG_CODE) or read_state(s.project, "azure").get("digest")
    progress(f"rolling back {s.app_name} to {previous[:12]}")
    publish(s, site, package, previous, current, progress)
    host = str(site.default_host_name)
    remember(s, host, previous, current, None)
    return DeployResult("azure", previous[:12], True, endpoints(s, host),
                        {"app": s.app_name, "resource_group": s.resource_group, "url": f"https://{host}"})
