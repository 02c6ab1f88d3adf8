"""Planners of the sub-resources the triggers need (mixed into plan.py's Planner): blob containers (the
deployment container and each blob trigger's), storage queues (each queue trigger's and its poison queue),
Event Hubs hubs and consumer groups, and on Flex one Event Grid subscription per blob trigger.

Each is its own step, `create` when ARM does not report it, `update` when what it reports differs (a
subscription's filter), else `noop`; one the last deploy made (the drift record names it) that the spec no
longer wants is deleted, except blob containers, which hold the user's blobs. Reads only, like all planning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from multicloud import drift as core
from multicloud.spec.models import StreamTrigger

from .arm import ArmSession
from .trigger_resources import (
    EVENTGRID_API_VERSION,
    blob_subscriptions,
    subscription_filter,
    subscription_id,
    subscription_name,
)

if TYPE_CHECKING:
    from .app import AppModel
    from .drift import Record
    from .plan import Current, Steps

HUB_BODY = {"properties": {"partitionCount": 2, "messageRetentionInDays": 1}}
CONTAINER, QUEUE, HUB, GROUP, SUBSCRIPTION = ("blob container", "storage queue", "event hub", "consumer group",
                                              "event grid subscription")


def account_id(s: ArmSession) -> str:
    return f"{s.rg_id()}/providers/Microsoft.Storage/storageAccounts/{s.storage_account}"


def read_subscriptions(s: ArmSession, account: Any) -> dict[str, dict[str, Any]]:
    """Event Grid subscriptions on the account (EventSubscriptions - List By Resource; no Event Grid SDK)."""
    from azure.core.rest import HttpRequest

    url = f"{account.id}/providers/Microsoft.EventGrid/eventSubscriptions?api-version={EVENTGRID_API_VERSION}"
    out: dict[str, dict[str, Any]] = {}
    while url:
        response = s.resources.send_request(HttpRequest("GET", url))
        response.raise_for_status()
        page = response.json()
        for sub in page.get("value", []):
            out[str(sub["name"])] = dict((sub.get("properties") or {}).get("filter") or {})
        url = page.get("nextLink") or ""
    return out


class SubResources:
    """The sub-resource planners; the Planner provides what they read and record into."""

    s: ArmSession
    model: AppModel
    cur: Current
    run: Steps
    record: Record  # what the last deploy made
    made: core.Record  # what this one makes

    def _present(self, kind: str, name: str, present: bool, op: str, args: dict[str, Any], plain: str,
                 fields: dict[str, object] | None = None, now: dict[str, object] | None = None) -> None:
        """Create `name` when missing, update it when its `fields` differ from `now`, else a noop."""
        want = {name: fields or {}}
        current = {name: (now if now is not None else fields) or {}} if present else {}
        self.made.check(kind, {}, want)
        found = core.Drift(kind, self.record.recorded, current, want)
        self.run.observe(f"{kind} {name}", current[name] if present else None)
        what = f"{kind} {name}"
        if not present:
            self.run.write("create", kind, name, op, args, found.label(name, what, plain))
        elif current[name] != want[name]:
            self.run.write("update", kind, name, op, args, found.label(name, what, plain))
        else:
            self.run.noop(kind, name, plain)

    def _ours(self, kind: str, name: str) -> bool:
        """Whether the last deploy made (or found and recorded) sub-resource `name` (then observed: a
        delete is planned for it)."""
        made = core.Drift(kind, self.record.recorded, {}, {}).made(name)
        if made:
            self.run.observe(f"{kind} {name}", "present")
        return made

    def _containers(self, names: list[str], why: str) -> None:
        """Created when missing; never deleted (a trigger's container holds the user's blobs)."""
        s = self.s
        for name in names:
            rid = f"{account_id(s)}/blobServices/default/containers/{name}"
            self._present(CONTAINER, name, name in self.cur.containers, "storage.put_container",
                          {"account": s.storage_account, "name": name, "id": rid}, why)

    def _queues(self, names: list[str]) -> None:
        s, cur = self.s, self.cur
        qid = f"{account_id(s)}/queueServices/default/queues/"
        for name in names:
            self._present(QUEUE, name, name in cur.queues, "storage.put_queue",
                          {"account": s.storage_account, "name": name, "id": qid + name},
                          "poison queue" if name.endswith("-poison") else "watched by a queue trigger")
        for name in sorted(cur.queues - set(names)):
            if self._ours(QUEUE, name):
                self.run.write("delete", QUEUE, name, "storage.delete_queue",
                               {"account": s.storage_account, "name": name, "id": qid + name}, "no trigger needs it")

    def _hubs(self, streams: list[StreamTrigger]) -> None:
        """Each stream trigger's hub and (other than $Default, which every hub has) consumer group."""
        s, cur, run = self.s, self.cur, self.run
        ns = s.eventhub_namespace
        ns_id = f"{s.rg_id()}/providers/Microsoft.EventHub/namespaces/{ns}"
        hubs = sorted({st.name for st in streams})
        groups = sorted({(st.name, st.consumer_group) for st in streams if st.consumer_group != "$Default"})
        for hub in hubs:
            self._present(HUB, hub, hub in cur.hubs, "eventhub.put_hub",
                          {"namespace": ns, "hub": hub, "id": f"{ns_id}/eventhubs/{hub}", "body": HUB_BODY},
                          "2 partitions, 1 day")
        for hub, group in groups:
            self._present(GROUP, f"{hub}/{group}", group in cur.hubs.get(hub, ()), "eventhub.put_group",
                          {"namespace": ns, "hub": hub, "group": group,
                           "id": f"{ns_id}/eventhubs/{hub}/consumergroups/{group}"}, "")
        for hub, present in sorted(cur.hubs.items()):
            if hub not in hubs and self._ours(HUB, hub):  # its consumer groups go with it
                run.write("delete", HUB, hub, "eventhub.delete_hub",
                          {"namespace": ns, "hub": hub, "id": f"{ns_id}/eventhubs/{hub}"}, "no trigger reads it")
                continue
            for group in sorted(present):
                if hub in hubs and (hub, group) not in groups and self._ours(GROUP, f"{hub}/{group}"):
                    run.write("delete", GROUP, f"{hub}/{group}", "eventhub.delete_group",
                              {"namespace": ns, "hub": hub, "group": group,
                               "id": f"{ns_id}/eventhubs/{hub}/consumergroups/{group}"}, "no trigger reads it")

    def _subscriptions(self) -> None:
        """Flex: one Event Grid subscription per blob trigger, after the code (the host's key needs it)."""
        s, cur = self.s, self.cur
        blobs = blob_subscriptions(s, self.model)
        wanted = {subscription_name(b["function"]): b for b in blobs}
        for name, blob in wanted.items():
            self._present(SUBSCRIPTION, name, name in cur.subscriptions, "eventgrid.put_subscription",
                          {"blob": blob, "id": subscription_id(s, blob["function"])},
                          f"BlobCreated on {blob['bucket']}", subscription_filter(blob),
                          {k: cur.subscriptions.get(name, {}).get(k) for k in subscription_filter(blob)})
        for name in sorted(set(cur.subscriptions) - set(wanted)):
            if self._ours(SUBSCRIPTION, name):
                rid = f"{account_id(s)}/providers/Microsoft.EventGrid/eventSubscriptions/{name}"
                self.run.write("delete", SUBSCRIPTION, name, "eventgrid.delete_subscription", {"id": rid},
                               "no blob trigger needs it")
