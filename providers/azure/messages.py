"""Messages for queue and stream functions on Azure: `send` (a Storage queue message, an Event Hubs
event), `pending` (the queue's approximate message count) and the poison queue `<queue>-poison`
(list, send back, drop), through azure-storage-queue and azure-eventhub.

Storage queues are reached with the app's own `AzureWebJobsStorage` setting (read through ARM, never
stored), so `send` writes where the Functions host reads. Message text is base64, the host's default
`messageEncoding`. The host counts an attempt each time it dequeues the message for the function (the
queue's `DequeueCount`); when the function fails on the `maxDequeueCount`-th dequeue (host.json, the
trigger's `max_attempts`), it puts a copy in `<queue>-poison` and deletes the original. The copy is a
new message: its id, insertion time and dequeue count start afresh, and the last error is in the
function's logs, not on the message.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timezone
from typing import Any

from multicloud.errors import OperationError, UnsupportedError, UsageError
from multicloud.provider import Channel, DeadLetter, DeadLetterAction, SendResult

from .arm import ArmSession
from .trigger_resources import POISON_SUFFIX

STORAGE_SETTING = "AzureWebJobsStorage"
PARTITION_KEY = "partition_key"  # the one attribute that is not an Event Hubs application property
HOLD_S = 60  # how long a retry or purge keeps the poison messages it received out of others' sight
PEEK_MOST = 32  # Azure peeks at most 32 messages; a longer listing receives and releases them
MOST = 10_000


def app_settings(s: ArmSession) -> dict[str, str]:
    return dict(s.web.web_apps.list_application_settings(s.resource_group, s.app_name).properties or {})


def queue_service(s: ArmSession) -> Any:
    """The app's storage account's queue service, by its connection string or its identity-based URI."""
    from azure.storage.queue import QueueServiceClient

    settings = app_settings(s)
    if settings.get(STORAGE_SETTING):
        return QueueServiceClient.from_connection_string(settings[STORAGE_SETTING])
    uri = settings.get(f"{STORAGE_SETTING}__queueServiceUri")
    if uri:
        return QueueServiceClient(uri, credential=s.credential)
    raise OperationError(f"function app {s.app_name} has no {STORAGE_SETTING} setting",
                         fix="deploy the service first (multicloud deploy -t azure)", where=f"azure: {s.app_name}")


def eventhub_producer(s: ArmSession, hub: str) -> Any:
    """A producer on the app's own Event Hubs connection (connection string, or identity-based namespace)."""
    from azure.eventhub import EventHubProducerClient

    cfg = s.settings.eventhub
    settings = app_settings(s)
    options: dict[str, Any] = {"eventhub_name": hub, "retry_total": 2}
    if settings.get(cfg.connection):
        return EventHubProducerClient.from_connection_string(settings[cfg.connection], **options)
    namespace = settings.get(f"{cfg.connection}__fullyQualifiedNamespace")
    if namespace:
        return EventHubProducerClient(namespace, credential=s.credential, **options)
    raise OperationError(f"the app has no Event Hubs connection in setting {cfg.connection}",
                         fix=f"set app setting {cfg.connection}, or targets.azure.eventhub.create / namespace",
                         where=f"azure: {s.app_name}")


def event_data(body: bytes, attributes: dict[str, str]) -> tuple[Any, str | None]:
    """(the EventData to send, its partition key): attributes become application properties."""
    from azure.eventhub import EventData

    attributes = dict(attributes)
    key = attributes.pop(PARTITION_KEY, None)
    event = EventData(body)
    event.properties = {str(k): v for k, v in attributes.items()}  # the SDK types keys as str | bytes
    return event, key


def send(s: ArmSession, channel: Channel, name: str, body: bytes, attributes: dict[str, str]) -> SendResult:
    if channel == "stream":
        from azure.eventhub.exceptions import EventHubError

        event, key = event_data(body, attributes)
        producer = eventhub_producer(s, name)
        try:
            with producer:
                producer.send_batch([event], partition_key=key)
        except EventHubError as exc:
            raise OperationError(f"sending to event hub {name} failed: {exc.message}",
                                 fix="check the hub name, the connection setting and network access to Event Hubs",
                                 where=f"azure: event hub {name}") from exc
        return SendResult("azure", channel, name, f"sb://{producer._address.hostname}/{name}")
    if attributes:
        raise UnsupportedError(f"Azure Storage queue messages carry no attributes ({', '.join(sorted(attributes))})",
                               fix="put them in the body, or use a stream (Event Hubs), whose events have properties")
    queue = queue_service(s).get_queue_client(name)
    sent = queue.send_message(base64.b64encode(body).decode())
    return SendResult("azure", channel, name, queue.url, str(sent.id))


def pending(s: ArmSession, queue: str) -> int:
    """Every message in the queue, visible or dequeued and not yet deleted (Azure's approximate count)."""
    return int(queue_service(s).get_queue_client(queue).get_queue_properties().approximate_message_count or 0)


def _body(content: str) -> bytes:
    """The host writes base64 (its default messageEncoding); a message someone wrote as plain text stays text."""
    try:
        return base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        return content.encode()


def _letter(queue: str, m: Any) -> DeadLetter:
    inserted = m.inserted_on
    return DeadLetter(id=str(m.id), queue=queue, body=_body(str(m.content)),
                      attributes={"dequeue_count": str(m.dequeue_count or 0)}, attempts=None,
                      time=inserted.astimezone(timezone.utc) if isinstance(inserted, datetime) else None)


def _poison(s: ArmSession, queue: str) -> Any:
    return queue_service(s).get_queue_client(queue + POISON_SUFFIX)


def _receive(poison: Any, limit: int) -> list[Any]:
    got: dict[str, Any] = {}
    for m in poison.receive_messages(messages_per_page=32, visibility_timeout=HOLD_S, max_messages=limit):
        got[str(m.id)] = m
    return list(got.values())


def _release(poison: Any, messages: list[Any]) -> None:
    for m in messages:
        poison.update_message(m, pop_receipt=m.pop_receipt, visibility_timeout=0)


def dead_letters(s: ArmSession, queue: str, limit: int) -> list[DeadLetter]:
    from azure.core.exceptions import ResourceNotFoundError

    poison = _poison(s, queue)
    try:
        if limit <= PEEK_MOST:  # a peek changes nothing: no dequeue count, no visibility
            got = list(poison.peek_messages(max_messages=limit))
        else:
            got = _receive(poison, limit)
            _release(poison, got)
    except ResourceNotFoundError:
        return []  # the host makes the poison queue on its first poison message
    return sorted((_letter(queue, m) for m in got), key=lambda d: d.time or datetime.min.replace(tzinfo=timezone.utc))


def act(s: ArmSession, queue: str, ids: tuple[str, ...] | None, retry: bool) -> DeadLetterAction:
    """Retry: each chosen message is sent back to `queue` once (same content), then deleted from the poison
    queue; purge: deleted. A crash between the two leaves it in both: at least once, never lost."""
    from azure.core.exceptions import ResourceNotFoundError

    poison = _poison(s, queue)
    try:
        got = _receive(poison, MOST)
    except ResourceNotFoundError:
        got = []
    chosen = [m for m in got if ids is None or str(m.id) in ids]
    missing = sorted(set(ids or ()) - {str(m.id) for m in chosen})
    if missing:
        _release(poison, got)
        raise UsageError(f"no dead letter {', '.join(missing)} in {queue}{POISON_SUFFIX}",
                         fix=f"list them: multicloud dead-letters -t azure --queue {queue}")
    _release(poison, [m for m in got if m not in chosen])
    source = queue_service(s).get_queue_client(queue) if retry else None
    for m in chosen:
        if source is not None:
            source.send_message(m.content)  # as the host wrote it (base64), so the function reads the same bytes
        poison.delete_message(m, pop_receipt=m.pop_receipt)
    return DeadLetterAction("azure", queue, "retry" if retry else "purge", tuple(str(m.id) for m in chosen))

