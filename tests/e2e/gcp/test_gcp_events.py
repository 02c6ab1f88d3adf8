"""Events on gcp, Pub/Sub being Google's real emulator: `multicloud send` publishes (with attributes), the
emulator pushes to the deployed zip's generated main.py served by the real functions-framework (which
turns the wrapped push body into a CloudEvent), a handler that keeps failing is dead-lettered after
exactly max_attempts deliveries, and `multicloud dead-letters` lists, retries and purges.

The Cloud Functions control plane, and Eventarc making the trigger's push subscription, are the FAKE
(fake_gcp.py, not Google); the subscription it makes lives on the emulator."""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_gcp import FakeGoogleCloud
from gcp_e2e_kit import PROJECT, Deployment, open_fake
from typer.testing import CliRunner

from multicloud.cli.app import app, hoist_global_options
from multicloud.client import Client

pytestmark = pytest.mark.slow

APP = '''
import json
import sys

FIXED = False


def work(event, context):
    for m in event.messages:
        body = m.body.decode()
        if body.startswith("bad") or (body == "poison" and not FIXED):
            sys.stdout.write(f"attempt {body}\\n")  # one write: pushes run on several threads
            sys.stdout.flush()
            raise ValueError("cannot handle " + body)
        print("handled", body, json.dumps(m.attributes, sort_keys=True), event.type, flush=True)
'''


def write(root: Path, *, fixed: bool = False, attempts: int = 5) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "app.py").write_text(APP.replace("FIXED = False", f"FIXED = {fixed}"))
    (root / "multicloud.yaml").write_text(textwrap.dedent(f"""\
        service: shop
        runtime: python3.11
        functions:
          work:
            handler: app.work
            triggers:
              - queue: {{name: jobs, max_attempts: {attempts}}}
        targets:
          gcp: {{project: {PROJECT}, region: europe-west1}}
        """))
    return root


def cli(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, hoist_global_options(list(args)))
    return res.exit_code, res.output


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeGoogleCloud, Deployment]]:
    monkeypatch = pytest.MonkeyPatch()
    root = write(tmp_path_factory.mktemp("events") / "shop")
    try:
        with open_fake(monkeypatch, serve=True) as cloud:
            shop = Deployment(root)
            shop.deploy()
            yield cloud, shop
    finally:
        monkeypatch.undo()


def logged(shop: Deployment, needle: str, count: int = 1, timeout: float = 60) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        lines = [r.message for r in shop.provider.logs("work", None, False)]
        if sum(line.count(needle) for line in lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.3)


def letters(root: Path, count: int, timeout: float = 60) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while True:
        code, out = cli("-o", "json", "dead-letters", str(root), "-t", "gcp", "--queue", "jobs")
        assert code == 0, out
        found: list[dict[str, object]] = json.loads(out)["dead_letters"]["jobs"]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def test_deploy_sets_the_dead_letter_policy_on_the_trigger_subscription(
        served: tuple[FakeGoogleCloud, Deployment]) -> None:
    from google.cloud import pubsub_v1

    fake, shop = served
    (trigger,) = fake.triggers.values()
    sub = pubsub_v1.SubscriberClient().get_subscription(request={
        "subscription": trigger["transport"]["pubsub"]["subscription"]})
    assert sub.dead_letter_policy.dead_letter_topic == f"projects/{PROJECT}/topics/jobs-dlq"
    assert sub.dead_letter_policy.max_delivery_attempts == 5
    dlq = pubsub_v1.SubscriberClient().get_subscription(request={
        "subscription": f"projects/{PROJECT}/subscriptions/jobs-dlq"})
    assert dlq.topic == f"projects/{PROJECT}/topics/jobs-dlq" and dlq.labels["multicloud-service"] == "shop"
    fn = fake.functions[f"projects/{PROJECT}/locations/europe-west1/functions/shop-work"]
    assert fn["eventTrigger"]["retryPolicy"] in (2, "RETRY_POLICY_RETRY")  # else a failure is dropped, not retried
    assert [c for c in shop.provider.plan(shop.build()).changes if c.action != "noop"] == []


def test_send_publishes_with_attributes_and_the_push_becomes_a_cloudevent(
        served: tuple[FakeGoogleCloud, Deployment]) -> None:
    _fake, shop = served
    code, out = cli("-o", "json", "send", str(shop.root), "-t", "gcp", "--queue", "jobs", "-d", "hello",
                    "-a", "tenant=acme")
    assert code == 0, out
    assert json.loads(out)["destination"] == f"projects/{PROJECT}/topics/jobs"
    lines = logged(shop, "handled hello")
    assert any('handled hello {"tenant": "acme"} io.multicloud.queue.messages' in line for line in lines), lines
    assert shop.provider.pending("jobs") is None  # Pub/Sub's API has no message count
    sent = Client(shop.root).send(queue="jobs", body="from python", attributes={"via": "client"})
    assert sent.target == "gcp" and sent.message_id
    assert any('handled from python {"via": "client"}' in line for line in logged(shop, "handled from python"))
    code, out = cli("send", str(shop.root), "-t", "gcp", "--stream", "jobs", "-d", "x")
    assert code == 2 and "no function reads stream" in out, out  # nothing reads a stream on gcp


def test_a_failing_message_is_dead_lettered_after_max_attempts_then_retried_or_purged(
        served: tuple[FakeGoogleCloud, Deployment]) -> None:
    _fake, shop = served
    for body in ("poison", "bad-1"):
        code, out = cli("send", str(shop.root), "-t", "gcp", "--queue", "jobs", "-d", body, "-a", "tenant=acme")
        assert code == 0, out
    found = letters(shop.root, 2)
    by_body = {str(d["body"]): d for d in found}
    assert set(by_body) == {"poison", "bad-1"}, found
    for d in found:
        assert d["attempts"] == 5 and d["attributes"]["tenant"] == "acme"  # type: ignore[index]
    lines = logged(shop, "attempt poison", 5)
    assert sum(line.count("attempt poison") for line in lines) == 5, lines  # exactly max_attempts deliveries

    write(shop.root, fixed=True)
    shop.deploy()  # the fixed code; the fake serves it and moves the push endpoint, as Cloud Run would
    code, out = cli("dead-letters", str(shop.root), "-t", "gcp", "--queue", "jobs", "--retry",
                    "--id", str(by_body["poison"]["id"]))
    assert code == 0 and "sent back 1 dead letter(s)" in out, out
    lines = logged(shop, "handled poison")
    assert any('handled poison {"tenant": "acme"}' in line for line in lines), lines  # dead-letter attributes gone
    code, out = cli("dead-letters", str(shop.root), "-t", "gcp", "--queue", "jobs", "--purge", "--yes")
    assert code == 0 and "purged 1 dead letter(s)" in out, out
    assert letters(shop.root, 1, timeout=2) == []


def test_fewer_than_five_attempts_is_refused_on_gcp(tmp_path: Path) -> None:
    root = write(tmp_path / "svc", attempts=3)
    code, out = cli("validate", str(root), "-t", "gcp")
    assert code == 2 and "below Pub/Sub's 5" in out and "max_attempts" in out, out
