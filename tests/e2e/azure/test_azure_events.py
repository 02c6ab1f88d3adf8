"""Events on azure, the Storage queues being REAL (Azurite): `multicloud send` writes base64 where the host
reads, a function that keeps failing lands in `<queue>-poison` after exactly maxDequeueCount (= the
trigger's max_attempts, in host.json) dequeues, and `multicloud dead-letters` lists, retries and purges
the poison queue; `Provider.pending` counts the queue.

What is not Azure: ARM (the FAKE in fake_azure.py), and the Functions host's dequeue loop, which cannot
run here: queue_listener.py is a labelled STAND-IN doing what the host documents, running the real
function indexed from the deployed package. Event Hubs has no emulator here: the stream `send` is proven
up to the EventData and the producer's connection, without a network call."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from azurite import KEY, azurite_queues
from fake_azure import FakeAzure, StaticToken
from queue_listener import run_queue
from typer.testing import CliRunner

from multicloud.cli.app import app, hoist_global_options
from multicloud.project import Project
from multicloud.providers.azure import AzureProvider

ACCOUNT = "mcshopevents"
HANDLER = '''
FIXED = False


def work(event, context):
    for m in event.messages:
        body = m.body.decode()
        if body.startswith("bad") or (body == "poison" and not FIXED):
            raise ValueError("cannot handle " + body)
        print("handled", body)
'''


@pytest.fixture(scope="module")
def queues() -> Iterator[str]:
    with azurite_queues(ACCOUNT) as url:
        yield url


@pytest.fixture
def azure(signed_in: FakeAzure, queues: str) -> FakeAzure:
    signed_in.queue_service = (queues, KEY)
    return signed_in


def write(root: Path, *, fixed: bool = False, attempts: int = 3, other: int | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "handler.py").write_text(HANDLER.replace("FIXED = False", f"FIXED = {fixed}"))
    second = textwrap.indent(textwrap.dedent(f"""\
        also:
          handler: handler.work
          triggers:
            - queue: {{name: more, max_attempts: {other}}}
        """), "  ") if other else ""
    (root / "multicloud.yaml").write_text(textwrap.dedent(f"""\
        service: shop
        runtime: python3.11
        functions:
          work:
            handler: handler.work
            triggers:
              - queue: {{name: jobs, max_attempts: {attempts}}}
              - stream: {{name: clicks}}
        """) + second + textwrap.dedent(f"""\
        targets:
          azure: {{storage_account: {ACCOUNT}, eventhub: {{connection: CLICKS_HUB, create: true}}}}
        """))
    return root


def cli(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, hoist_global_options(list(args)))
    return res.exit_code, res.output


def provider(root: Path) -> AzureProvider:
    return AzureProvider(Project.load(root), credential=StaticToken())


def service_client(root: Path) -> object:
    from multicloud.providers.azure.messages import queue_service

    return queue_service(provider(root).session())


def load_host(fake: FakeAzure) -> None:
    (package,) = fake.published.values()
    fake.function_host.load(package)


def test_poison_queue_after_max_dequeue_count_then_retry_and_purge(azure: FakeAzure, tmp_path: Path) -> None:
    root = write(tmp_path / "svc")
    code, out = cli("deploy", str(root), "-t", "azure")
    assert code == 0, out
    host_json = root / ".multicloud" / "build" / "azure" / "app" / "host.json"
    if not host_json.exists():
        host_json = next((root / ".multicloud" / "build" / "azure").rglob("host.json"))
    assert json.loads(host_json.read_text())["extensions"]["queues"]["maxDequeueCount"] == 3
    load_host(azure)
    svc = service_client(root)

    for body in ("poison", "ok-1", "bad-1"):
        code, out = cli("send", str(root), "-t", "azure", "--queue", "jobs", "-d", body)
        assert code == 0, out
    assert provider(root).pending("jobs") == 3
    runs = run_queue(azure.function_host, svc, "jobs", host_json)
    assert [r for r in runs if r[0] == "poison"] == [("poison", 1, False), ("poison", 2, False), ("poison", 3, False)]
    assert [r for r in runs if r[0] == "ok-1"] == [("ok-1", 1, True)]
    assert provider(root).pending("jobs") == 0

    code, out = cli("-o", "json", "dead-letters", str(root), "-t", "azure", "--queue", "jobs")
    assert code == 0, out
    letters = {d["body"]: d for d in json.loads(out)["dead_letters"]["jobs"]}
    assert set(letters) == {"poison", "bad-1"}
    code, out = cli("dead-letters", str(root), "-t", "azure")  # a peek: nothing changes
    assert code == 0 and "jobs: 2 dead letter(s)" in out, out

    write(root, fixed=True)
    assert cli("deploy", str(root), "-t", "azure")[0] == 0
    load_host(azure)
    code, out = cli("dead-letters", str(root), "-t", "azure", "--queue", "jobs", "--retry",
                    "--id", letters["poison"]["id"])
    assert code == 0 and "sent back 1 dead letter(s)" in out, out
    assert provider(root).pending("jobs") == 1
    assert run_queue(azure.function_host, svc, "jobs", host_json) == [("poison", 1, True)]
    code, out = cli("dead-letters", str(root), "-t", "azure", "--queue", "jobs", "--purge", "--yes")
    assert code == 0 and "purged 1 dead letter(s)" in out, out
    assert provider(root).dead_letters("jobs") == []
    code, out = cli("dead-letters", str(root), "-t", "azure", "--queue", "jobs", "--retry", "--id", "nope")
    assert code == 2 and "no dead letter nope in jobs-poison" in out, out

    code, out = cli("send", str(root), "-t", "azure", "--queue", "jobs", "-d", "x", "-a", "k=v")
    assert code == 3 and "carry no attributes" in out, out


def test_the_stream_send_builds_the_event_and_uses_the_apps_event_hubs_connection(
        azure: FakeAzure, tmp_path: Path) -> None:
    """Event Hubs has no emulator here: this stops short of the network (labelled)."""
    from multicloud.providers.azure.messages import event_data, eventhub_producer

    event, key = event_data(b'{"click": 1}', {"partition_key": "user-7", "tenant": "acme"})
    assert key == "user-7" and event.body_as_str() == '{"click": 1}' and event.properties == {"tenant": "acme"}
    root = write(tmp_path / "svc")
    assert cli("deploy", str(root), "-t", "azure")[0] == 0
    s = provider(root).session()
    producer = eventhub_producer(s, "clicks")
    assert producer.eventhub_name == "clicks"
    assert producer._address.hostname == f"{s.eventhub_namespace}.servicebus.windows.net"  # from CLICKS_HUB
    producer.close()


def test_one_app_has_one_max_dequeue_count(tmp_path: Path) -> None:
    root = write(tmp_path / "svc", attempts=3, other=7)
    code, out = cli("validate", str(root), "-t", "azure")
    assert code == 3 and "share one maxDequeueCount" in out and "max_attempts 3 and 7" in out, out
