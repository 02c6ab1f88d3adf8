"""What the dashboard reads from logs and how it summarises it: the private runtime's own access lines
(written by its real JsonLog), Lambda's platform lines as CloudWatch Logs stores them, percentiles and
the sparkline."""

from __future__ import annotations

import io
import json
import re
from datetime import datetime, timedelta, timezone

from multicloud.access_log import from_lines, tail_lines
from multicloud.dashboard.metrics import percentile, sparkline, summarize
from multicloud.provider import Invocation
from multicloud.providers.aws.invocations import calls_from_events
from multicloud.runtime.server_log import JsonLog

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def runtime_lines() -> list[str]:
    """Lines exactly as the private runtime writes them (no flusher thread: each write goes out at once)."""
    out = io.StringIO()
    log = JsonLog(out)
    log.access("GET", "/hello", 200, 12, "127.0.0.1", 3.5, {"function": "hello", "request_id": "r-1"})
    log.access("POST", "/_events/work", 500, 40, "127.0.0.1", 12.0, {"function": "work", "request_id": "r-2"})
    log.access("GET", "/hello", 504, 40, "127.0.0.1", 2000.0, {"function": "hello", "request_id": "r-3",
                                                             "timeout": True})
    log.access("GET", "/healthz", 200, 20, "127.0.0.1", 0.2, {})  # a probe: no function
    log.access("GET", "/nope", 404, 20, "127.0.0.1", 0.2, {})  # no route matched
    log.write({"level": "INFO", "type": "schedule", "status": 200, "function": "tick", "request_id": "r-4",
               "schedule": "rate(1 minute)", "duration_ms": 5.5})
    log.write({"level": "WARNING", "type": "schedule", "function": "tick", "schedule": "rate(1 minute)",
               "skipped": "the previous run is still going"})
    log.event("listening", address="127.0.0.1:1")
    out.write("a bare print from a handler\n")
    return out.getvalue().splitlines()


def test_access_lines_become_invocations() -> None:
    calls = from_lines(runtime_lines(), None, T0 - timedelta(days=3650), 100)
    assert [(c.function, c.status, c.ok, c.request_id) for c in calls] == [
        ("hello", 200, True, "r-1"), ("work", 500, False, "r-2"), ("hello", 504, False, "r-3"),
        ("tick", 200, True, "r-4")]
    assert calls[0].duration_ms == 3.5
    assert calls[1].error == "HTTP 500" and calls[2].error == "timed out"
    only = from_lines(runtime_lines(), "hello", T0 - timedelta(days=3650), 1)
    assert [c.request_id for c in only] == ["r-3"]  # the newest `limit`
    assert from_lines(runtime_lines(), None, datetime.now(timezone.utc) + timedelta(hours=1), 100) == []


def test_docker_lines_keep_their_timestamp_prefix_out(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # `docker logs --timestamps` puts the engine's time first; the provider hands the rest over, but a line
    # that still has a prefix parses too
    lines = [f"2026-12-01T12:00:00.000000000Z {line}" for line in runtime_lines()]
    assert len(from_lines(lines, None, T0 - timedelta(days=3650), 100)) == 4


def test_tail_reads_only_the_end_of_a_big_log(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "service.log"
    path.write_text("x" * 5000 + "\n" + "\n".join(runtime_lines()) + "\n")
    lines = tail_lines(path, max_bytes=2000)
    assert not any(line.startswith("x") for line in lines)  # the cut first line is dropped
    assert len(from_lines(lines, None, T0 - timedelta(days=3650), 100)) == 4
    assert tail_lines(tmp_path / "missing.log") == []


def cw(ms: int, message: str, stream: str = "2026/12/01/[1]abc") -> dict[str, object]:
    return {"timestamp": int(T0.timestamp() * 1000) + ms, "message": message, "logStreamName": stream,
            "eventId": f"{ms:08d}"}


def test_lambda_platform_lines() -> None:
    events = [
        cw(0, "START RequestId: a1 Version: 3"),
        cw(1, '{"time": "x", "level": "INFO", "message": "hit"}'),
        cw(2, "END RequestId: a1"),
        cw(3, "REPORT RequestId: a1\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB\t"
              "Max Memory Used: 40 MB\tInit Duration: 100.00 ms"),
        cw(10, "START RequestId: b2 Version: 3", "other-stream"),
        cw(11, '{"level": "ERROR", "message": "unhandled exception in handler", "error_type": "KeyError"}',
           "other-stream"),
        cw(12, "END RequestId: b2", "other-stream"),
        cw(13, "REPORT RequestId: b2\tDuration: 3.00 ms\tBilled Duration: 3 ms", "other-stream"),
        cw(20, "START RequestId: c3 Version: 3"),
        cw(21, "[ERROR] RuntimeError: boom"),
        cw(22, "END RequestId: c3"),
        cw(23, "REPORT RequestId: c3\tDuration: 1.00 ms"),
        cw(30, "START RequestId: d4 Version: 3"),
        cw(31, "END RequestId: d4"),
        cw(32, "REPORT RequestId: d4\tDuration: 3000.00 ms\tStatus: timeout"),
        cw(40, "START RequestId: e5 Version: 3"),
        cw(41, "END RequestId: e5"),  # no REPORT (an emulator that writes none): counted, no latency
        cw(50, json.dumps({"time": "t", "type": "platform.start", "record": {"requestId": "f6"}})),
        cw(51, json.dumps({"time": "t", "type": "platform.report", "record": {
            "requestId": "f6", "status": "error", "errorType": "Runtime.ExitError", "metrics": {"durationMs": 7.5}}})),
    ]
    calls = {c.request_id: c for c in calls_from_events(events, "api")}
    assert set(calls) == {"a1", "b2", "c3", "d4", "e5", "f6"}
    assert calls["a1"].ok and calls["a1"].duration_ms == 12.34 and calls["a1"].time == T0
    assert not calls["b2"].ok and calls["b2"].error == "KeyError"
    assert not calls["c3"].ok and calls["c3"].error == "RuntimeError: boom"
    assert not calls["d4"].ok and calls["d4"].error == "timeout"
    assert calls["e5"].ok and calls["e5"].duration_ms is None
    assert not calls["f6"].ok and calls["f6"].duration_ms == 7.5 and calls["f6"].error == "Runtime.ExitError"
    assert all(c.status is None and c.function == "api" for c in calls.values())


def test_percentiles_and_buckets() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0], 95) == 5.0
    assert percentile([float(v) for v in range(1, 101)], 50) == 50.0
    assert percentile([float(v) for v in range(1, 101)], 95) == 95.0
    calls = [Invocation(T0 + timedelta(seconds=i * 30), "f", i % 5 != 0, float(10 + i)) for i in range(30)]
    m = summarize("f", calls, T0, T0 + timedelta(minutes=15), buckets=15)
    assert (m.calls, m.errors) == (30, 6)
    assert [b.calls for b in m.buckets] == [2] * 15
    assert m.buckets[0].errors == 1 and m.buckets[1].errors == 0
    assert m.p50_ms == 24.0 and m.p95_ms == 38.0 and m.last is calls[-1]


def test_sparkline_is_inline_svg_of_numbers() -> None:
    calls = [Invocation(T0 + timedelta(seconds=i * 60), "f", i != 3, float(10 * (i + 1))) for i in range(15)]
    svg = str(sparkline(summarize("f", calls, T0, T0 + timedelta(minutes=15), buckets=15)))
    assert svg.startswith('<svg class="spark"') and svg.endswith("</svg>")
    points = re.search(r'points="([^"]+)"', svg)
    assert points is not None and len(points.group(1).split()) == 15
    ys = [float(p.split(",")[1]) for p in points.group(1).split()]
    assert ys == sorted(ys, reverse=True)  # latency grows: the line climbs (y shrinks)
    assert svg.count('class="err"') == 1
    assert 'aria-label="15 calls, 1 failed, median 80 ms"' in svg
    empty = str(sparkline(summarize("f", [], T0, T0 + timedelta(minutes=15))))
    assert "polyline" not in empty and "0 calls" in empty
    one = str(sparkline(summarize("f", calls[:1], T0, T0 + timedelta(minutes=15))))
    assert "polyline" not in one and one.count('class="dot"') == 1  # one bucket: a dot, not an empty line
