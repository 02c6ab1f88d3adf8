"""Shared pieces of the event-trigger e2e tests (local, docker, swarm): the service's handlers, reading what
they handled from the runtime's own log lines, publishing with nats-py as the service's `producer` user, and
bucket notifications in exactly MinIO's format."""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "fixtures"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from e2e_fixtures import fixtures_of  # noqa: E402
from s3_notifications import minio_notification  # noqa: E402,F401 - re-exported for the tests

from multicloud.broker.admin import run_coroutine  # noqa: E402

docker_fixtures = fixtures_of("docker")  # tests/e2e/docker's engine fixtures, loaded once
BROKER_IMAGE = docker_fixtures.BROKER_IMAGE

APP = '''
import asyncio
import os
import socket
import threading
import time

from multicloud import BatchResult

FLAKY = {}


def work(event, context):
    """Queue: log every message it sees; poison-* fail (to the dead letters after max_attempts)."""
    failed = []
    for m in event.messages:
        context.logger.info("handled", body=m.text, id=m.id, attempt=m.raw["attempt"], host=socket.gethostname(),
                            pid=os.getpid())
        if m.text.startswith("poison"):
            failed.append(m.id)
    time.sleep(float(os.environ.get("WORK_SLEEP", "0")) * len(event.messages))
    return BatchResult(failed=failed)


async def clicks(event, context):
    """Stream: flaky-* records fail twice, then pass; every success is logged in the order it is handled.
    An `async def` handler: the private runtime awaits it on its event loop (the thread is logged)."""
    for m in event.messages:
        await asyncio.sleep(0)
        if m.text.startswith("flaky") and FLAKY.get(m.id, 0) < 2:
            FLAKY[m.id] = FLAKY.get(m.id, 0) + 1
            return BatchResult(failed=[m.id])
        context.logger.info("record", body=m.text, sequence=m.sequence, thread=threading.current_thread().name)
    return None


def uploads(event, context):
    obj = event.storage
    context.logger.info("object", bucket=obj.bucket, key=obj.key, kind=obj.kind, size=obj.size, etag=obj.etag)


def api(event, context):
    return {"ok": True}
'''

FUNCTIONS = """\
functions:
  work:
    handler: app.work
    timeout: 2
    memory: 128
    env: {{WORK_SLEEP: "{sleep}"}}
    triggers:
      - queue: {{name: orders, batch_size: 10, max_attempts: 3}}
  clicks:
    handler: app.clicks
    timeout: 2
    memory: 128
    triggers:
      - stream: {{name: clicks, batch_size: 5, starting_position: trim_horizon}}
  uploads:
    handler: app.uploads
    timeout: 2
    memory: 128
    triggers:
      - storage: {{bucket: photos.raw, events: [created, deleted], prefix: in/, suffix: .jpg}}
  api:
    handler: app.api
    memory: 128
    triggers:
      - http: {{path: /hi}}
"""


def log_lines(text: str) -> list[dict[str, Any]]:
    from multicloud.access_log import records

    return list(records(text.splitlines()))


def messages_of(lines: Iterable[dict[str, Any]], message: str) -> list[dict[str, Any]]:
    return [d for d in lines if d.get("message") == message]


def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.3) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


def publish(servers: list[str], password: str, subject: str, bodies: list[bytes], *, user: str = "producer",
            headers: dict[str, str] | None = None, jetstream: bool = True) -> list[int]:
    """Publish as the service's producer (what an application or MinIO does); the stream sequences."""
    async def main() -> list[int]:
        import nats

        nc = await nats.connect(servers=servers, user=user, password=password, connect_timeout=3)
        try:
            if not jetstream:
                for body in bodies:
                    await nc.publish(subject, body, headers=headers)
                await nc.flush()
                return []
            js = nc.jetstream(timeout=10)
            acks = [js.publish(subject, body, headers=headers) for body in bodies]
            out = []
            for chunk in range(0, len(acks), 200):  # bounded concurrency, acknowledged publishes
                out += [a.seq for a in await asyncio.gather(*acks[chunk:chunk + 200])]
            return out
        finally:
            await nc.close()

    return run_coroutine(main)  # also when the session holds a running loop (the dashboard's Playwright)


def nats_error(servers: list[str], user: str, password: str, action: Callable[[Any], Any], *,
               inbox: str = "_INBOX") -> str:
    """What the broker says when `user` tries `action(nc)` (an awaitable factory): the error text, or ''."""
    errors: list[str] = []

    async def main() -> None:
        import nats

        async def on_error(exc: Exception) -> None:
            errors.append(str(exc))

        try:
            nc = await nats.connect(servers=servers, user=user, password=password, connect_timeout=3,
                                    allow_reconnect=False, error_cb=on_error, max_reconnect_attempts=0,
                                    inbox_prefix=inbox)
        except Exception as exc:  # noqa: BLE001 - refused at connect: that is the answer
            errors.append(f"{type(exc).__name__}: {exc}")
            return
        try:
            await action(nc)
            await nc.flush()
            await asyncio.sleep(0.3)  # permission violations arrive asynchronously
        except Exception as exc:  # noqa: BLE001
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            if not nc.is_closed:
                await nc.close()

    run_coroutine(main)
    return " | ".join(errors)


def report_duplicates(bodies: list[str], expected: set[str], label: str) -> Counter[str]:
    """Every expected body handled at least once; duplicates are counted and printed, not failed on."""
    counts = Counter(b for b in bodies if b in expected)
    missing = expected - set(counts)
    assert not missing, f"{label}: {len(missing)} message(s) never handled, e.g. {sorted(missing)[:5]}"
    dups = sum(c - 1 for c in counts.values())
    print(f"\n{label}: {len(expected)} messages handled at least once; {dups} duplicate deliveries "
          f"({len([c for c in counts.values() if c > 1])} messages handled more than once)")
    return counts


QUEUE_SERVICE = """\
service: {service}
functions:
  work:
    handler: app.work
    timeout: 2
    memory: 128
    env: {{WORK_SLEEP: "0.004"}}
    triggers:
      - queue: {{name: orders, batch_size: 10, max_attempts: 3}}
targets:
  docker:
{docker}    base_image: {base}
    broker_image: {broker}
    labels: {{{label}: "{session}"}}
"""


class EngineService:
    """A queue service on the engine (single mode, or swarm with `docker="mode: swarm\\n..."` lines)."""

    def __init__(self, root: Path, tag: str, docker: str = "") -> None:
        from multicloud.project import Project
        from multicloud.providers.docker import DockerProvider

        root.mkdir(parents=True)
        (root / "app.py").write_text(APP)
        (root / "multicloud.yaml").write_text(QUEUE_SERVICE.format(
            service=docker_fixtures.service_name(tag), docker="".join(f"    {line}\n" for line in docker.splitlines()),
            base=docker_fixtures.BASE_IMAGE, broker=BROKER_IMAGE, label=docker_fixtures.TEST_LABEL,
            session=docker_fixtures.SESSION))
        self.root = root
        self.provider = DockerProvider(Project.load(root))
        self.mode = self.provider.mode()

    def deploy(self) -> Any:
        from multicloud.state import build_dir

        return self.provider.deploy(self.provider.build(build_dir(self.provider.project, "docker")))

    def password(self, user: str) -> str:
        return str(self.mode.broker().creds.passwords()[user])

    def containers(self) -> list[Any]:
        """The function's containers: the live one (single), every task's, killed ones too (swarm: a
        single-node swarm keeps them here; not `docker service logs`, which on Engine 20.10 can block for
        good once a task has failed)."""
        from multicloud.providers.docker.single import Single

        if isinstance(self.mode, Single):
            return [self.mode.live()]
        return list(self.mode.client.containers.list(
            all=True, filters={"label": f"com.docker.swarm.service.name={self.mode.name}"}))

    def handled(self, prefix: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for container in self.containers():
            lines = log_lines(container.logs().decode(errors="replace"))
            out += [d for d in messages_of(lines, "handled") if str(d.get("body", "")).startswith(prefix)]
        return out
