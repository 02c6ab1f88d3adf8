"""CloudEvents (structured and binary mode) at /_events/<function>, and schedules firing inside."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

from server_harness import Runtime, request, start_runtime


def structured(ce_type: str, data: object, **attrs: object) -> bytes:
    return json.dumps({"specversion": "1.0", "id": "evt-1", "source": "/test", "type": ce_type, "data": data,
                       **attrs}).encode()


STRUCTURED = {"Content-Type": "application/cloudevents+json"}


def binary_headers(ce_type: str, **extra: str) -> dict[str, str]:
    return {"ce-specversion": "1.0", "ce-id": "evt-2", "ce-source": "/test", "ce-type": ce_type,
            "Content-Type": "application/json", **extra}


def test_queue_batch_structured_mode_reports_failed_ids(runtime: Runtime) -> None:
    data = {"messages": [{"id": "m1", "body": "ok"}, {"id": "m2", "body": "bad"},
                         {"id": "m3", "body_base64": base64.b64encode(b"bad").decode()}]}
    status, headers, body = request(runtime, "POST", "/_events/events",
                                    structured("io.multicloud.queue.messages", data), STRUCTURED)
    assert status == 200, body
    assert json.loads(body) == {"failed": ["m2", "m3"]}
    assert headers["x-request-id"]


def test_stream_binary_mode(runtime: Runtime) -> None:
    data = json.dumps({"records": [{"id": "r1", "body": "bad", "partition_key": "p", "sequence": 7}]}).encode()
    status, _, body = request(runtime, "POST", "/_events/events", data,
                              binary_headers("io.multicloud.stream.records", **{"ce-partitionkey": "p"}))
    assert status == 200 and json.loads(body) == {"failed": ["r1"]}


def test_storage_event_success_and_handler_failure(runtime: Runtime) -> None:
    ok = structured("io.multicloud.storage.object.created", {"bucket": "b", "key": "k.txt", "size": 3})
    status, _, body = request(runtime, "POST", "/_events/events", ok, STRUCTURED)
    assert status == 200 and json.loads(body) == {"failed": []}
    bad = json.dumps({"bucket": "b", "key": "raise"}).encode()
    status, _, body = request(runtime, "POST", "/_events/events", bad,
                              binary_headers("io.multicloud.storage.object.deleted"))
    assert status == 500  # the sender retries
    assert b"cannot process" not in body


def test_direct_and_foreign_types_return_the_handler_value(runtime: Runtime) -> None:
    status, _, body = request(runtime, "POST", "/_events/events", structured("io.multicloud.direct", {"n": 1}),
                              STRUCTURED)
    assert status == 200 and json.loads(body) == {"direct": {"n": 1}, "type": "io.multicloud.direct"}
    payload = base64.b64encode(b"\x00\x01").decode()
    doc = json.dumps({"specversion": "1.0", "id": "x", "source": "s", "type": "com.example.thing",
                      "data_base64": payload}).encode()
    status, _, body = request(runtime, "POST", "/_events/events", doc, STRUCTURED)
    assert status == 200 and json.loads(body) == {"direct": "0001", "type": "com.example.thing"}


def test_invalid_cloudevents_are_400(runtime: Runtime) -> None:
    cases = [
        (b"{}", {"Content-Type": "application/json"}),  # no ce-* headers, not structured
        (b"not json", STRUCTURED),
        (json.dumps({"specversion": "0.3", "id": "1", "source": "s", "type": "t"}).encode(), STRUCTURED),
        (json.dumps({"specversion": "1.0", "source": "s", "type": "t"}).encode(), STRUCTURED),
        (b"{bad", binary_headers("io.multicloud.direct")),
        (structured("io.multicloud.queue.messages", {"messages": "nope"}), STRUCTURED),
        (structured("io.multicloud.http.request", {}), STRUCTURED),
    ]
    for body, headers in cases:
        status, _, answer = request(runtime, "POST", "/_events/events", body, headers)
        assert status == 400, (body, answer)
    assert request(runtime, "POST", "/_events/nobody", structured("io.multicloud.direct", 1), STRUCTURED)[0] == 404
    assert request(runtime, "GET", "/_events/events")[0] == 405


def test_schedules_fire_inside_the_runtime(tmp_path: Path) -> None:
    ticks = tmp_path / "ticks.txt"
    functions = {"tick": {"handler": "svc.tick", "timeout": 5,
                          "schedules": [{"rate_seconds": 0.2, "expression": "fast"}]}}
    rt = start_runtime(tmp_path, functions, env={"TICK_FILE": str(ticks)})
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if ticks.exists() and len(ticks.read_text().splitlines()) >= 4:
                break
            time.sleep(0.05)
    finally:
        assert rt.stop() == 0
    lines = ticks.read_text().splitlines()
    assert len(lines) >= 4
    assert all(line.startswith("schedule fast ") for line in lines)
    times = [line.split()[2] for line in lines]
    assert times == sorted(times) and len(set(times)) == len(times)
    fired = [r for r in rt.records() if r.get("type") == "schedule"]
    assert len(fired) >= 4 and all(r["status"] == 200 and r["function"] == "tick" for r in fired)
    # nothing fires after the stop
    count = len(ticks.read_text().splitlines())
    time.sleep(0.5)
    assert len(ticks.read_text().splitlines()) == count


def test_overlapping_schedule_runs_are_skipped(tmp_path: Path) -> None:
    functions = {"tick": {"handler": "svc.slow_tick", "timeout": 5,
                          "schedules": [{"rate_seconds": 0.1, "expression": "every-100ms"}]}}
    rt = start_runtime(tmp_path, functions)
    try:
        time.sleep(1.2)
    finally:
        assert rt.stop() == 0
    records = [r for r in rt.records() if r.get("type") == "schedule"]
    skipped = [r for r in records if r.get("skipped")]
    ran = [r for r in records if r.get("status") == 200]
    assert skipped and ran
    assert len(ran) <= 3  # each run takes 0.5 s: at most one at a time
