"""A STAND-IN for the Functions host's Storage-queue listener, for tests only: the host itself cannot be
installed here (see PLATFORM_NOTES), so this drives the dequeue loop the way the WebJobs SDK's queue
processor documents it, against the REAL queues (Azurite), with the REAL function indexed from the
deployed package (fake_azure_host.FakeHost, the Python worker's indexing):

* receive up to host.json's `batchSize` messages, each hidden while the function runs;
* run the function once per message, with the `QueueMessage` the worker would build (body decoded from
  base64, the host's default `messageEncoding`; the dequeue count);
* on success delete it; on failure, if its dequeue count has reached host.json's `maxDequeueCount`, add
  its content to `<queue>-poison` and delete it, else make it visible again (`visibilityTimeout` 0,
  the host's default).

What the real host adds and this does not: polling with backoff, several instances, leases on blob
receipts, the exact logging.
"""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

VISIBILITY_WHILE_RUNNING_S = 30


def run_queue(host: Any, service: Any, queue: str, host_json: Path,
              max_rounds: int = 50) -> list[tuple[str, int, bool]]:
    """Process `queue` until it is empty; returns (body, dequeue count, succeeded) per function run."""
    from azure.functions.queue import QueueMessage

    settings = json.loads(host_json.read_text())["extensions"]["queues"]
    batch, max_dequeue = int(settings.get("batchSize", 16)), int(settings.get("maxDequeueCount", 5))
    (name, (_spec, user)), = [(n, f) for n, f in host.functions.items()
                              if f[0]["bindings"][0].get("queueName") == queue]
    source, poison = service.get_queue_client(queue), service.get_queue_client(queue + "-poison")
    runs: list[tuple[str, int, bool]] = []
    for _ in range(max_rounds):
        got = list(source.receive_messages(messages_per_page=batch, max_messages=batch,
                                           visibility_timeout=VISIBILITY_WHILE_RUNNING_S))
        if not got:
            break
        for m in got:
            body = base64.b64decode(m.content)
            message = QueueMessage(id=m.id, body=body, dequeue_count=m.dequeue_count, insertion_time=m.inserted_on,
                                   pop_receipt=m.pop_receipt)
            try:
                user(message, SimpleNamespace(invocation_id=uuid.uuid4().hex, function_name=name))
                ok = True
            except Exception:  # noqa: BLE001 - the host catches every failure of the function
                ok = False
            runs.append((body.decode("utf-8", "replace"), int(m.dequeue_count), ok))
            if ok:
                source.delete_message(m)
            elif m.dequeue_count >= max_dequeue:
                poison.send_message(m.content)
                source.delete_message(m)
            else:
                source.update_message(m, pop_receipt=m.pop_receipt, visibility_timeout=0)
    return runs
