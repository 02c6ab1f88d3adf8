"""Resources the triggers need besides the app, as data for the planner (plan.py): blob containers and queues
in the app's storage account, and on Flex one Event Grid subscription per blob trigger (Flex runs only the
Event Grid blob trigger), which `subscribe_blob_triggers` makes (apply.py's executor).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from multicloud.provider import Progress
from multicloud.spec.models import QueueTrigger, StorageTrigger

from .app import AppModel
from .arm import ArmSession

POISON_SUFFIX = "-poison"
EVENTGRID_API_VERSION = "2022-06-15"  # GA Event Grid REST version (no Event Grid SDK is needed for one PUT)


def trigger_storage(s: ArmSession) -> tuple[list[str], list[str]]:
    """Blob containers and queues the triggers watch (in the app's storage account, AzureWebJobsStorage);
    each queue is followed by its poison queue, where the host moves messages its function failed on
    maxDequeueCount times (it would create it on the first one; made by deploy so `multicloud dead-letters`
    finds it from the start)."""
    configs = [t.config for f in s.project.functions_for("azure") for t in f.triggers]
    containers = sorted({c.bucket for c in configs if isinstance(c, StorageTrigger)})
    queues = [q for name in sorted({c.name for c in configs if isinstance(c, QueueTrigger)})
              for q in (name, name + POISON_SUFFIX)]
    return containers, queues


def blob_subscriptions(s: ArmSession, model: AppModel) -> list[dict[str, str]]:
    """On Flex, the Event Grid subscription each blob trigger needs (plain data: a planned step's args)."""
    if s.settings.plan != "flex":
        return []
    out = []
    for f in model.functions:
        if f.kind == "storage":
            cfg = s.project.function("azure", f.spec_function).triggers[f.trigger_index].config
            assert isinstance(cfg, StorageTrigger)
            out.append({"function": f.name, "bucket": cfg.bucket, "prefix": cfg.prefix, "suffix": cfg.suffix})
    return out


def subscription_id(s: ArmSession, function: str) -> str:
    account_id = f"{s.rg_id()}/providers/Microsoft.Storage/storageAccounts/{s.storage_account}"
    return f"{account_id}/providers/Microsoft.EventGrid/eventSubscriptions/{subscription_name(function)}"


def subscribe_blob_triggers(s: ArmSession, blobs: list[Mapping[str, str]], host: str,
                            progress: Progress) -> dict[str, str]:
    """Flex runs only the Event Grid blob trigger: subscribe each one to BlobCreated on its container.

    The webhook carries the host's `blobs_extension` system key, which exists once the host has indexed
    a blob trigger; until then deploy reports a warning (and makes none of these writes) and the next
    deploy subscribes.
    """
    if not blobs:
        return {}
    keys = s.web.web_apps.list_host_keys(s.resource_group, s.app_name)
    key = (keys.system_keys or {}).get("blobs_extension")
    if not key:
        return {"warning": "the host has no blobs_extension key yet: deploy again to subscribe blob triggers to "
                           "Event Grid"}
    for blob in blobs:
        name, bucket = blob["function"], blob["bucket"]
        progress(f"subscribing {name} to Event Grid BlobCreated on {bucket}")
        url = f"https://{host}/runtime/webhooks/blobs?functionName=Host.Functions.{name}&code={key}"
        s.resources.resources.begin_create_or_update_by_id(
            subscription_id(s, name).lstrip("/"),
            {"properties": {
                "destination": {"endpointType": "WebHook", "properties": {"endpointUrl": url}},
                "filter": subscription_filter(blob),
                "eventDeliverySchema": "EventGridSchema"}},
            api_version=EVENTGRID_API_VERSION).result()
    return {}


def subscription_filter(blob: Mapping[str, str]) -> dict[str, object]:
    """The subscription's filter: what the plan compares with what ARM reports (the webhook URL carries a
    key, which ARM never reports back)."""
    return {"includedEventTypes": ["Microsoft.Storage.BlobCreated"],
            "subjectBeginsWith": f"/blobServices/default/containers/{blob['bucket']}/blobs/{blob['prefix']}",
            "subjectEndsWith": blob["suffix"]}


def subscription_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", name)[:64]  # Event Grid: 3-64 letters, digits and dashes
