"""Google's own Pub/Sub emulator (the gcloud SDK's `cloud-pubsub-emulator`, Java), started on 127.0.0.1 for
the gcp e2e tests. google-cloud-pubsub reaches it through `PUBSUB_EMULATOR_HOST`, its standard variable.

It is the real Pub/Sub data plane: topics, pull and push subscriptions, redelivery of pushes answered
with an error, dead-letter policies (max delivery attempts, the `CloudPubSubDeadLetter*` attributes). It
has no IAM (get/setIamPolicy answer 501) and no message counts.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

EMULATOR = Path(os.environ.get("MULTICLOUD_PUBSUB_EMULATOR",
                               "/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def pubsub_emulator(timeout: float = 60) -> Iterator[str]:
    """Start the emulator, yield its host:port, stop it."""
    if not EMULATOR.is_file() or not shutil.which("java"):
        raise RuntimeError(f"the Pub/Sub emulator is missing ({EMULATOR}, needs java): install the Debian "
                           "packages google-cloud-cli-pubsub-emulator and a JRE (.ci/run checks for them)")
    port = _free_port()
    proc = subprocess.Popen([str(EMULATOR), "--host=127.0.0.1", f"--port={port}"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the Pub/Sub emulator exited with {proc.returncode}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the Pub/Sub emulator did not open its port") from None
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, 15)  # the launcher script and its java child
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()


def clean(project: str) -> None:
    """Delete every subscription and topic of `project`: the emulator has no reset, tests share it."""
    from google.cloud import pubsub_v1

    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    for sub in subscriber.list_subscriptions(request={"project": f"projects/{project}"}):
        subscriber.delete_subscription(request={"subscription": sub.name})
    for topic in publisher.list_topics(request={"project": f"projects/{project}"}):
        publisher.delete_topic(request={"topic": topic.name})
