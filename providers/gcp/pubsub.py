"""Pub/Sub for queue functions: dead letters, `send` and the dead-letter listing, through google-cloud-pubsub
(which honours `PUBSUB_EMULATOR_HOST`, Google's emulator convention).

A queue function's messages reach it through the push subscription Eventarc made for its trigger
(`eventarc-<region>-...-sub-...`, found through the function's `event_trigger.trigger`). Dead letters:

* topic `<topic>-dlq` and a pull subscription `<topic>-dlq` on it (a topic with no subscription drops
  what it receives), both labelled `managed-by=multicloud, multicloud-service=<service>`, 7 days' retention;
* the trigger subscription's `dead_letter_policy` = that topic, `max_delivery_attempts` = the trigger's
  `max_attempts` (Pub/Sub accepts 5 to 100; the spec check refuses fewer on gcp);
* Pub/Sub's service agent `service-<project number>@gcp-sa-pubsub.iam.gserviceaccount.com` needs
  `roles/pubsub.publisher` on the dead-letter topic and `roles/pubsub.subscriber` on the trigger
  subscription, else Pub/Sub cannot move a message: deploy grants both (the emulator has no IAM; it says so).

Pub/Sub counts a delivery attempt each time it pushes the message and the function does not answer 2xx
in time. After `max_delivery_attempts` it publishes the message to the dead-letter topic with attributes
`CloudPubSubDeadLetterSourceDeliveryCount`, `...SourceSubscription` and `...SourceTopicPublishTime`.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import Any

from multicloud.errors import OperationError, UsageError
from multicloud.plan import fingerprint
from multicloud.provider import DeadLetter, DeadLetterAction, Progress, SendResult

from .clients import GcpClients
from .context import Run
from .model import CloudFunction, topic_path

DLQ_SUFFIX = "-dlq"
DEAD_LETTER_ATTRIBUTE = "CloudPubSubDeadLetter"  # prefix of the attributes Pub/Sub adds when it moves one
PUBLISHER = "roles/pubsub.publisher"
SUBSCRIBER = "roles/pubsub.subscriber"
RETENTION = timedelta(days=7)  # the longest a subscription keeps acknowledged-or-not messages
ACK_DEADLINE_S = 60  # how long a listing or a retry holds the dead letters it pulled
MOST = 10_000  # dead letters one retry or purge acts on


def dlq_id(topic: str) -> str:
    return topic.rsplit("/", 1)[-1] + DLQ_SUFFIX


def with_member(bindings: list[dict[str, Any]], role: str, member: str) -> list[dict[str, Any]] | None:
    """The IAM bindings with `member` in `role`, or None when it already is (nothing to write)."""
    if any(b.get("role") == role and member in b.get("members", []) for b in bindings):
        return None
    out = [dict(b) for b in bindings]
    for b in out:
        if b.get("role") == role and not b.get("condition"):
            b["members"] = sorted({*b.get("members", []), member})
            return out
    return out + [{"role": role, "members": [member]}]


class PubSub:
    def __init__(self, clients: GcpClients, service: str) -> None:
        self.clients = clients
        self.service = service
        self.labels = {"managed-by": "multicloud", "multicloud-service": service}

    @property
    def emulated(self) -> bool:
        return bool(os.environ.get("PUBSUB_EMULATOR_HOST"))

    @cached_property
    def publisher(self) -> Any:
        from google.cloud import pubsub_v1  # type: ignore[attr-defined]

        return pubsub_v1.PublisherClient(**({} if self.emulated else {"credentials": self.clients.credentials}))

    @cached_property
    def subscriber(self) -> Any:
        from google.cloud import pubsub_v1  # type: ignore[attr-defined]

        return pubsub_v1.SubscriberClient(**({} if self.emulated else {"credentials": self.clients.credentials}))

    def topic(self, name: str) -> str:
        return topic_path(name, self.clients.project_id)

    def dlq_topic(self, topic: str) -> str:
        return f"projects/{self.clients.project_id}/topics/{dlq_id(topic)}"

    def dlq_subscription(self, topic: str) -> str:
        return f"projects/{self.clients.project_id}/subscriptions/{dlq_id(topic)}"

    # ---- reading ---------------------------------------------------------------------------------
    def _get(self, kind: str, path: str) -> dict[str, Any] | None:
        from google.api_core.exceptions import NotFound

        try:
            found = (self.publisher.get_topic(request={"topic": path}) if kind == "topic"
                     else self.subscriber.get_subscription(request={"subscription": path}))
        except NotFound:
            return None
        data: dict[str, Any] = type(found).to_dict(found, preserving_proto_field_name=True)
        if data.get("labels", {}).get("multicloud-service") != self.service:
            raise OperationError(f"Pub/Sub {kind} {path} exists but is not this service's dead letters "
                                 f"(labels {data.get('labels', {})})",
                                 fix=f"rename or delete it (a topic's dead letters go to <topic>{DLQ_SUFFIX})",
                                 where=path)
        return data

    def trigger_subscription(self, fn: dict[str, Any] | None) -> str | None:
        """The push subscription Eventarc made for a function's Pub/Sub trigger (None before it exists)."""
        trigger = ((fn or {}).get("event_trigger") or {}).get("trigger")
        if not trigger:
            return None
        found = self.clients.rest("GET", "eventarc", f"v1/{trigger}")
        sub = ((found.get("transport") or {}).get("pubsub") or {}).get("subscription")
        return str(sub) if sub else None

    # ---- plan ------------------------------------------------------------------------------------
    def plan(self, run: Run, cf: CloudFunction, fn: dict[str, Any] | None) -> None:
        """What one queue function's dead letters need (reads only): its dead-letter topic and pull
        subscription, the trigger subscription's dead-letter policy, and Pub/Sub's service agent's roles."""
        assert cf.event_trigger is not None and cf.event_trigger.topic is not None
        attempts = cf.event_trigger.max_attempts or 5
        topic = self.topic(cf.event_trigger.topic)
        dlq_topic, dlq_sub = self.dlq_topic(topic), self.dlq_subscription(topic)
        resource = f"pubsub topic {dlq_id(topic)}"
        found = self._get("topic", dlq_topic)
        run.observe(resource, fingerprint(found) if found else "missing")
        if found is None:
            run.write("create", resource, "pubsub.create_topic", {"name": dlq_topic, "labels": self.labels})
        else:
            run.noop(resource)
        resource = f"pubsub subscription {dlq_id(topic)}"
        found = self._get("subscription", dlq_sub)
        run.observe(resource, fingerprint(found) if found else "missing")
        if found is None:
            run.write("create", resource, "pubsub.create_subscription", {
                "name": dlq_sub, "topic": dlq_topic, "labels": self.labels,
                "ack_deadline_seconds": ACK_DEADLINE_S,
                "message_retention_duration": int(RETENTION.total_seconds()),
                "expiration_policy": {}}, "holds the dead letters")  # an expiration policy without ttl: never expires
        else:
            run.noop(resource)
        resource = f"pubsub dead-letter policy {cf.function_id}"
        args = {"function": f"{self.clients.location}/functions/{cf.function_id}", "dead_letter_topic": dlq_topic,
                "attempts": attempts}
        sub = self.trigger_subscription(fn)
        if sub is None:
            run.write("update", resource, "pubsub.dead_letter_policy", args,
                      f"max delivery attempts {attempts}, once the trigger exists")
        else:
            current = self.subscriber.get_subscription(request={"subscription": sub}).dead_letter_policy
            run.observe(resource, fingerprint([sub, current.dead_letter_topic, current.max_delivery_attempts]))
            if (current.dead_letter_topic, current.max_delivery_attempts) == (dlq_topic, attempts):
                run.noop(resource)
            else:
                run.write("update", resource, "pubsub.dead_letter_policy", args, f"max delivery attempts {attempts}")
        if self.emulated:  # the emulator has no IAM: nothing to grant there
            return
        roles = [PUBLISHER, SUBSCRIBER] if sub is None else self.missing_roles(dlq_topic, sub)
        if roles:
            run.write("update", f"pubsub iam {cf.function_id}", "pubsub.grant",
                      {"function": args["function"], "dead_letter_topic": dlq_topic, "roles": roles},
                      f"Pub/Sub's service agent gets {', '.join(roles)}")

    def missing_roles(self, dlq_topic: str, subscription: str) -> list[str]:
        """The roles Pub/Sub's service agent lacks to move dead letters (reads only)."""
        from google.api_core.exceptions import MethodNotImplemented, NotFound

        out = []
        for client, resource, role in ((self.publisher, dlq_topic, PUBLISHER),
                                       (self.subscriber, subscription, SUBSCRIBER)):
            try:
                policy = client.get_iam_policy(request={"resource": resource})
            except MethodNotImplemented:
                return []
            except NotFound:
                out.append(role)
                continue
            bindings = [{"role": b.role, "members": list(b.members)} for b in policy.bindings]
            if with_member(bindings, role, self.service_agent) is not None:
                out.append(role)
        return out

    @cached_property
    def service_agent(self) -> str:
        number = self.clients.rest("GET", "resourcemanager", f"v3/projects/{self.clients.project_id}")["name"]
        return f"serviceAccount:service-{str(number).rsplit('/', 1)[-1]}@gcp-sa-pubsub.iam.gserviceaccount.com"

    def grant(self, dlq_topic: str, subscription: str, roles: list[str], progress: Progress) -> bool:
        """Give Pub/Sub's service agent `roles` (publisher on the dead-letter topic, subscriber on the trigger
        subscription), keeping the rest of each policy as read now."""
        from google.api_core.exceptions import MethodNotImplemented

        changed = False
        for client, resource, role in ((self.publisher, dlq_topic, PUBLISHER), (self.subscriber, subscription,
                                                                                 SUBSCRIBER)):
            if role not in roles:
                continue
            try:
                policy = client.get_iam_policy(request={"resource": resource})
            except MethodNotImplemented:
                progress(f"gcp: not granting {role} on {resource}: this Pub/Sub endpoint has no IAM (an emulator)")
                continue
            bindings = [{"role": b.role, "members": list(b.members), "condition": b.condition.expression or None}
                        for b in policy.bindings]
            new = with_member(bindings, role, self.service_agent)
            if new is None:
                continue
            progress(f"gcp: granting {role} on {resource} to Pub/Sub's service agent")
            client.set_iam_policy(request={"resource": resource, "policy": {
                "bindings": [{"role": b["role"], "members": b["members"]} | (
                    {"condition": {"expression": b["condition"]}} if b.get("condition") else {}) for b in new],
                "etag": policy.etag}})
            changed = True
        return changed

    def owned(self) -> tuple[list[str], list[str]]:
        """(dead-letter subscriptions, dead-letter topics) labelled as this service's."""
        project = f"projects/{self.clients.project_id}"
        subs = [s.name for s in self.subscriber.list_subscriptions(request={"project": project})
                if dict(s.labels).get("multicloud-service") == self.service and s.name.endswith(DLQ_SUFFIX)]
        topics = [t.name for t in self.publisher.list_topics(request={"project": project})
                  if dict(t.labels).get("multicloud-service") == self.service and t.name.endswith(DLQ_SUFFIX)]
        return subs, topics

    def delete(self, keep: set[str], progress: Progress) -> list[str]:
        """Delete this service's dead-letter subscriptions and topics (and the dead letters in them), except
        those of the topics in `keep`."""
        subs, topics = self.owned()
        wanted = {dlq_id(t) for t in keep}
        removed = []
        for sub in subs:
            if sub.rsplit("/", 1)[1] not in wanted:
                progress(f"gcp: deleting pubsub subscription {sub}")
                self.subscriber.delete_subscription(request={"subscription": sub})
                removed.append(sub)
        for topic in topics:
            if topic.rsplit("/", 1)[1] not in wanted:
                progress(f"gcp: deleting pubsub topic {topic}")
                self.publisher.delete_topic(request={"topic": topic})
                removed.append(topic)
        return removed

    # ---- messages --------------------------------------------------------------------------------
    def send(self, name: str, body: bytes, attributes: dict[str, str]) -> SendResult:
        topic = self.topic(name)
        message_id = self.publisher.publish(topic, body, **attributes).result(timeout=60)
        return SendResult("gcp", "queue", name, topic, str(message_id))

    def _pull(self, subscription: str, limit: int) -> list[Any]:
        from google.api_core.exceptions import DeadlineExceeded, NotFound

        out: dict[str, Any] = {}
        while len(out) < limit:
            try:
                got = self.subscriber.pull(request={"subscription": subscription,
                                                    "max_messages": min(1000, limit - len(out))}, timeout=5)
            except DeadlineExceeded:
                break
            except NotFound as exc:
                raise OperationError(f"no dead-letter subscription {subscription}",
                                     fix="deploy the service first (multicloud deploy -t gcp)") from exc
            if not got.received_messages:
                break
            out.update((m.message.message_id, m) for m in got.received_messages)
        return list(out.values())

    def _release(self, subscription: str, received: list[Any]) -> None:
        for i in range(0, len(received), 1000):
            ack_ids = [m.ack_id for m in received[i:i + 1000]]
            self.subscriber.modify_ack_deadline(request={"subscription": subscription, "ack_ids": ack_ids,
                                                         "ack_deadline_seconds": 0})

    def _letter(self, queue: str, m: Any) -> DeadLetter:
        attributes = dict(m.message.attributes)
        count = attributes.get(f"{DEAD_LETTER_ATTRIBUTE}SourceDeliveryCount")
        published = m.message.publish_time
        return DeadLetter(id=m.message.message_id, queue=queue, body=bytes(m.message.data), attributes=attributes,
                          attempts=int(count) if count and count.isdigit() else None,
                          time=published if isinstance(published, datetime) else None)

    def dead_letters(self, queue: str, limit: int) -> list[DeadLetter]:
        sub = self.dlq_subscription(self.topic(queue))
        got = self._pull(sub, limit)
        self._release(sub, got)
        return sorted((self._letter(queue, m) for m in got),
                      key=lambda d: d.time or datetime.min.replace(tzinfo=timezone.utc))

    def act(self, queue: str, ids: tuple[str, ...] | None, retry: bool) -> DeadLetterAction:
        topic = self.topic(queue)
        sub = self.dlq_subscription(topic)
        got = self._pull(sub, MOST)
        chosen = [m for m in got if ids is None or m.message.message_id in ids]
        missing = sorted(set(ids or ()) - {m.message.message_id for m in chosen})
        if missing:
            self._release(sub, got)
            raise UsageError(f"no dead letter {', '.join(missing)} in {sub}",
                             fix=f"list them: multicloud dead-letters -t gcp --queue {queue}")
        self._release(sub, [m for m in got if m not in chosen])
        for m in chosen:
            if retry:  # back to the topic, once, without the attributes Pub/Sub added when it moved it
                attributes = {k: v for k, v in m.message.attributes.items() if not k.startswith(DEAD_LETTER_ATTRIBUTE)}
                self.publisher.publish(topic, bytes(m.message.data), **attributes).result(timeout=60)
            self.subscriber.acknowledge(request={"subscription": sub, "ack_ids": [m.ack_id]})
        return DeadLetterAction("gcp", queue, "retry" if retry else "purge",
                                tuple(m.message.message_id for m in chosen))
