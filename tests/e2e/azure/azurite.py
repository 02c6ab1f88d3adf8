"""Azurite's queue service (npm `azurite`), started on 127.0.0.1 for the azure e2e tests: the real Storage
queue data plane (visibility timeouts, dequeue counts, peek, update, delete). Azure's ARM stays the fake.

`AZURITE_ACCOUNTS` gives it the storage account (name and key) that the fake ARM hands out, so the app's
AzureWebJobsStorage connection string works against it unchanged. `.ci/run` installs azurite with npm.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

KEY = base64.b64encode(b"multicloud-azurite-test-key-0001").decode()  # any base64 key; Azurite checks signatures


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def azurite_queues(account: str, timeout: float = 30) -> Iterator[str]:
    """Yield Azurite's queue endpoint `http://127.0.0.1:PORT` (path-style: `/<account>/<queue>`)."""
    exe = shutil.which("azurite-queue")
    if exe is None:
        raise RuntimeError("azurite-queue is missing: `npm install -g azurite` (.ci/run does it)")
    port = _free_port()
    proc = subprocess.Popen([exe, "--queueHost", "127.0.0.1", "--queuePort", str(port), "--inMemoryPersistence",
                             "--skipApiVersionCheck", "--disableTelemetry", "--silent"],
                            env={**os.environ, "AZURITE_ACCOUNTS": f"{account}:{KEY}"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"azurite-queue exited with {proc.returncode}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("azurite-queue did not open its port") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
