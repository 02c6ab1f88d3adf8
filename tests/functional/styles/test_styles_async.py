"""`async def` portable handlers on every target's real runtime, from one build per target: Lambda
(awslambdaric running the built zip: Function URL, SQS, S3 and EventBridge sample events), the private
runtime server (HTTP and CloudEvents), functions-framework (GCP: HTTP, Pub/Sub and Cloud Storage
CloudEvents, several threads at once) and the azure-functions indexer (Azure: HTTP, queue, blob, timer).

Each process keeps one client session made on the loop its handlers run on (it refuses another loop); the
session counts its calls, so a count that goes up from one invocation to the next proves the loop (and
what lives on it) survived between invocations, as a warm instance allows. Deadlines: Lambda's (from the
Runtime API), Azure's (the MULTICLOUD_TIMEOUT_MS app setting) and GCP's (the environment variable of that
name the deploy sets from the function's timeout) cancel the coroutine and answer 504, as the private
runtime does for the function's timeout.
"""

from __future__ import annotations

import base64
import time
from concurrent.futures import ThreadPoolExecutor

import azure.functions as func
import pytest
from azure.functions.blob import InputStream
from azure.functions.timer import TimerRequest
from styles_support import Request, View, function_url_event, lambda_view, sample

from multicloud.providers.gcp.model import ScheduleSpec
from multicloud.providers.gcp.resources import schedule_event
from multicloud.runtime.invoke import BatchFailure

pytestmark = pytest.mark.slow


def answers(req: Request, targets, function: str = "hello") -> dict[str, View]:
    return {
        "lambda": lambda_view(targets.aws.invoke(function, function_url_event(req)), "2.0"),
        "local": targets.local.http(req),
        "gcp": targets.gcp.http(function, req),
        "azure": targets.azure.http(function, req, {}),
    }


def test_http_answers_everywhere_and_the_session_survives_between_invocations(async_targets) -> None:
    req = Request("GET", "/hello", "name=ada")
    first = answers(req, async_targets)
    second = answers(req, async_targets)
    for target in first:
        assert first[target].status == 200 and first[target].data["hello"] == "ada", (target, first[target])
        # a session made anew would count 1 again (GCP's and Azure's shims run in this one test process and
        # share the user module, hence "more", not "one more")
        assert second[target].data["session_calls"] > first[target].data["session_calls"], target


def test_the_deadline_cancels_the_coroutine_and_answers_504(seen, async_targets) -> None:
    started = time.monotonic()
    event = function_url_event(Request("GET", "/slow", "s=10&tag=lambda"))
    answer = async_targets.aws.invoke("slow", event, timeout_s=1)  # Lambda's deadline, 1 s from now
    assert lambda_view(answer, "2.0").status == 504 and time.monotonic() - started < 5
    local = async_targets.local.http(Request("GET", "/slow", "s=10&tag=local"))
    assert local.status == 504  # the function's timeout: 1 s
    view = async_targets.azure.http("slow", Request("GET", "/slow", "s=10&tag=azure"), {})
    assert view.status == 504 and view.data == {"error": "function timed out"}
    started = time.monotonic()
    view = async_targets.gcp.http("slow", Request("GET", "/slow", "s=10&tag=gcp"))
    assert view.status == 504 and view.data == {"error": "function timed out"}, view
    assert time.monotonic() - started < 5
    for _ in range(50):
        cancelled = {r.get("cancelled") for r in seen(keep=True)}
        if {"lambda", "local", "azure", "gcp"} <= cancelled:
            break
        time.sleep(0.1)
    assert {"lambda", "local", "azure", "gcp"} <= cancelled  # the handler really stopped on each


def test_functions_framework_threads_share_the_loop(async_targets) -> None:
    """functions-framework serves from several threads: their coroutines wait on the one loop together."""
    started = time.monotonic()
    with ThreadPoolExecutor(6) as threads:
        out = list(threads.map(lambda _: async_targets.gcp.http("slow", Request("GET", "/slow", "s=0.4")), range(6)))
    assert [v.status for v in out] == [200] * 6
    assert time.monotonic() - started < 2  # six 0.4 s waits, overlapped


def test_a_queue_batch_reports_its_failures_everywhere(seen, async_targets) -> None:
    records = sample("sqs-batch.json")["Records"]
    failing = {r["messageId"] for r in records if r["body"].startswith("fail")}
    answer = async_targets.aws.invoke("orders", sample("sqs-batch.json"))
    failed = {"lambda": {i["itemIdentifier"] for i in answer["batchItemFailures"]}}
    resp = async_targets.local.event("orders", "io.multicloud.queue.messages",
                             {"messages": [{"id": r["messageId"], "body": r["body"]} for r in records]})
    failed["local"] = set(resp.data["failed"])
    failed["gcp"], failed["azure"] = set(), set()
    for r in records:
        status = async_targets.gcp.cloud_event("orders", {
            "type": "google.cloud.pubsub.topic.v1.messagePublished", "id": r["messageId"],
            "source": "//pubsub.googleapis.com/projects/async-test/topics/orders"},
            {"message": {"data": base64.b64encode(r["body"].encode()).decode(), "messageId": r["messageId"],
                         "publishTime": "2026-01-01T00:00:00Z"}, "subscription": "projects/async-test/subscriptions/s"})
        if status != 200:
            assert status == 500
            failed["gcp"].add(r["messageId"])
        try:
            async_targets.azure.call("orders", func.QueueMessage(id=r["messageId"], body=r["body"].encode()))
        except BatchFailure as exc:
            failed["azure"].update(exc.failed)
    assert failing and all(ids == failing for ids in failed.values()), failed
    bodies = [b for rec in seen() for b in rec["bodies"]]
    assert sorted(bodies) == sorted([r["body"] for r in records] * 4)  # every message reached every target


def test_storage_and_schedule_events_reach_the_async_handler_everywhere(seen, async_targets) -> None:
    key = "photos/holiday.jpg"
    event = sample("s3-put.json")
    event["Records"][0]["s3"]["object"]["key"] = key
    assert async_targets.aws.invoke("uploads", event) is None
    assert async_targets.local.event("uploads", "io.multicloud.storage.object.created",
                             {"bucket": "uploads", "key": key, "size": 3}).status == 200
    assert async_targets.gcp.cloud_event("uploads", {"type": "google.cloud.storage.object.v1.finalized", "id": "1",
                                             "source": "//storage.googleapis.com/projects/_/buckets/uploads"},
                                 {"bucket": "uploads", "name": key, "size": "3"}) == 200
    async_targets.azure.call("uploads", InputStream(data=b"abc", name=f"uploads/{key}", length=3))
    assert seen() == [{"kind": "storage", "key": key}] * 4

    assert async_targets.aws.invoke("nightly", sample("eventbridge-scheduled.json")) is None
    assert async_targets.local.event("nightly", "io.multicloud.schedule.fired", {"name": "nightly"}).status == 200
    job = schedule_event("projects/async-test/locations/europe-west1",
                         ScheduleSpec("asyncsvc-nightly-0", "0 3 * * *", "cron 0 3 * * *"))
    assert async_targets.gcp.cloud_event("nightly", {k: v for k, v in job.items() if k != "data"}, job["data"]) == 200
    async_targets.azure.call("nightly", TimerRequest(past_due=False))
    assert seen() == [{"kind": "schedule"}] * 4
