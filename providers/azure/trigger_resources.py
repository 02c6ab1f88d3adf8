"""Resources the triggers need besides the app: blob containers and queues in the app's storage account,
and on Flex one Event Grid subscription per blob trigger (Flex runs only the Event Grid blob trigger).
"""

from __future__ import annotations

import re

from multicloud.provider import Progress
from multicloud.providers.azure.app import AppModel
from multicloud.providers.azure.arm import ArmSession
from multicloud.providers.azure.triggers import AzureFunction
from multicloud.spec.models import QueueTrigger, StorageTrigger

POISON_SUFFIX = "-poison"
EVENTGRID_API_VERSION = "2022-06-15"  # GA Event Grid REST version (no Event Grid SDK is needed for one PUT)


def create_trigger_storage(s: ArmSession, progress: Progress) -> None:
    """Blob containers and queues the triggers watch, in the app's storage account (AzureWebJobsStorage)."""
    rg, acct = s.resource_group, s.storage_account
    configs = [t.config for f in s.project.functions_for("azure") for t in f.triggers]
    for bucket in sorted({c.bucket for c in configs if isinstance(c, StorageTrigger)}):
        s.storage.blob_containers.create(rg, acct, bucket, {"properties": {}})
    for queue in sorted({c.name for c in configs if isinstance(c, QueueTrigger)}):
        s.storage.queue.create(rg, acct, queue, {"properties": {}})
        # where the host moves messages its function failed on maxDequeueCount times (it would create it on
        # the first one; made here so `multicloud dead-letters` finds it from the start)
        s.storage.queue.create(rg, acct, queue + POISON_SUFFIX, {"properties": {}})


def subscribe_blob_triggers(s: ArmSession, model: AppModel, host: str, progress: Progress) -> dict[str, str]:
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
            f"{account_id}/providers/Microsoft.EventGrid/eventSubscriptions/{subscription_name(fn.name)}".lstrip("/"),
            {"properties": {
                "destination": {"endpointType": "WebHook", "properties": {"endpointUrl": url}},
                "filter": {"includedEventTypes": ["Microsoft.Storage.BlobCreated"],
                           "subjectBeginsWith": f"/blobServices/default/containers/{cfg.bucket}/blobs/{cfg.prefix}",
                           "subjectEndsWith": cfg.suffix},
                "eventDeliverySchema": "EventGridSchema"}},
            api_version=EVENTGRID_API_VERSION).result()
    return {}


def subscription_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", name)[:64]  # Event Grid: 3-64 letters, digits and dashes


def _trigger(s: ArmSession, f: AzureFunction) -> object:
    return s.project.function("azure", f.spec_function).triggers[f.trigger_index].config
