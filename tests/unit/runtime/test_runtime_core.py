"""The shared core: HTTP result mapping, event dispatch, load_handler, context, logger, import purity."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

import multicloud
from multicloud.runtime.context import Context, Logger
from multicloud.runtime.events import EVENT_TYPES, KIND_OF_TYPE, BatchResult, Event, Message
from multicloud.runtime.http import Headers, HttpRequest, Response, match_route, to_result
from multicloud.runtime.invoke import (
    BatchFailure,
    HandlerLoadError,
    handle_event,
    handle_http,
    load_handler,
)


def ctx(**kw) -> Context:
    return Context("fn", kw.pop("request_id", "req-1"), "test", **kw)


def test_version_matches_distribution() -> None:
    assert multicloud.__version__ == version("multicloud")


def test_headers_are_case_insensitive_and_multi_valued() -> None:
    h = Headers([("X-Multi", "a"), ("x-multi", "b"), ("Content-Type", "text/plain")])
    assert h["CONTENT-TYPE"] == "text/plain"
    assert h.get_all("X-MULTI") == ["a", "b"]
    assert "x-Multi" in h and "nope" not in h
    assert h.get("missing", "d") == "d"
    with pytest.raises(KeyError):
        h["missing"]
    assert sorted(h) == ["content-type", "x-multi"]


def test_request_text_json_and_cookies() -> None:
    req = HttpRequest(
        "post", "/p", headers={"Content-Type": "application/json; charset=latin-1", "Cookie": "a=1; b=x=y"},
        body="{\"k\": \"é\"}".encode("latin-1"),
    )
    assert req.method == "POST"
    assert req.text == '{"k": "é"}'
    assert req.json() == {"k": "é"}
    assert req.cookies == {"a": "1", "b": "x=y"}


@pytest.mark.parametrize(
    ("value", "status", "ctype", "body"),
    [
        ({"a": 1}, 200, "application/json", b'{"a":1}'),
        ([1, 2], 200, "application/json", b"[1,2]"),
        ("hé", 200, "text/plain; charset=utf-8", "hé".encode()),
        (b"\x00\xff", 200, "application/octet-stream", b"\x00\xff"),
        (None, 204, None, b""),
    ],
)
def test_return_values_map_to_http(value, status, ctype, body) -> None:
    result = to_result(value)
    assert (result.status, result.header("content-type"), result.body) == (status, ctype, body)


def test_response_gives_full_control_and_collects_cookies() -> None:
    result = to_result(Response(302, headers=[("Location", "/x"), ("Set-Cookie", "c=3")], body=None,
                                cookies={"a": "1"}))
    assert result.status == 302
    assert result.headers == [("Location", "/x")]
    assert result.cookies == ["a=1", "c=3"]
    assert not result.is_text


def test_unsupported_return_value_is_a_500_with_a_log(log_lines) -> None:
    result = handle_http(lambda e, c: object(), HttpRequest("GET", "/"), ctx())
    assert result.status == 500
    [record] = log_lines()
    assert record["level"] == "ERROR" and "return a dict" in record["traceback"]


def test_exception_is_generic_500_and_traceback_goes_to_log(log_lines) -> None:
    import portable_handler

    result = handle_http(portable_handler.handler, HttpRequest("GET", "/boom"), ctx(request_id="r-9"))
    assert result.status == 500
    assert json.loads(result.body) == {"error": "internal server error"}
    assert b"hunter2" not in result.body and b"Traceback" not in result.body
    [record] = log_lines()
    assert record["request_id"] == "r-9" and record["function"] == "fn"
    assert record["error_type"] == "RuntimeError"
    assert "Traceback" in record["traceback"] and "portable_handler.py" in record["traceback"]


def batch(*texts: str) -> Event:
    msgs = [Message(f"m{i}", t.encode()) for i, t in enumerate(texts)]
    return Event("queue", id="b", source="/t", messages=msgs)


def test_partial_failure_returns_failed_ids(seen, log_lines) -> None:
    import portable_handler

    assert handle_event(portable_handler.handler, batch("ok", "fail-1", "ok", "fail-2"), ctx()) == ["m1", "m3"]
    assert [s["id"] for s in seen] == ["m0", "m1", "m2", "m3"]
    assert any(r["message"] == "partial batch failure" for r in log_lines())


def test_event_exception_is_reraised_and_logged(seen, log_lines) -> None:
    import portable_handler

    with pytest.raises(RuntimeError, match="batch handler failed"):
        handle_event(portable_handler.handler, batch("ok", "crash"), ctx())
    assert log_lines()[-1]["level"] == "ERROR"


def test_unknown_failed_ids_and_failures_outside_batches_raise() -> None:
    with pytest.raises(ValueError, match="not in this batch"):
        handle_event(lambda e, c: BatchResult(failed=["zzz"]), batch("a"), ctx())
    sched = Event("direct", id="d", source="/t")
    with pytest.raises(BatchFailure):
        handle_event(lambda e, c: BatchResult(failed=["x"]), sched, ctx())


def test_views_of_another_kind_raise_clear_attribute_errors() -> None:
    event = batch("a")
    with pytest.raises(AttributeError, match="event.http exists on http events; this one is a queue"):
        _ = event.http
    assert event.type == EVENT_TYPES["queue"] == "io.multicloud.queue.messages"
    assert KIND_OF_TYPE["io.multicloud.storage.object.deleted"] == "storage"


def test_scratch_dir_is_private_and_gone_after_the_invocation(tmp_path, monkeypatch) -> None:
    import portable_handler

    monkeypatch.setenv("MULTICLOUD_SCRATCH_ROOT", str(tmp_path))
    c1, c2 = ctx(request_id="a/../b"), ctx(request_id="a/../b")
    r1 = handle_http(portable_handler.handler, HttpRequest("GET", "/scratch"), c1)
    r2 = handle_http(portable_handler.handler, HttpRequest("GET", "/scratch"), c2)
    d1, d2 = json.loads(r1.body), json.loads(r2.body)
    assert d1["exists"] and d2["exists"] and d1["scratch"] != d2["scratch"]
    assert Path(d1["scratch"]).parent.parent == tmp_path  # no path traversal through the request id
    assert not Path(d1["scratch"]).exists() and not Path(d2["scratch"]).exists()


def test_remaining_time_and_logger_fields(log_lines) -> None:
    c = Context("f", "r", "aws", timeout_ms=60_000, memory_limit_mb=256)
    assert 59_000 < c.remaining_time_ms() <= 60_000
    assert Context("f", "r", "aws", remaining=lambda: 1234).remaining_time_ms() == 1234
    c.logger.info("hello", user_id=7, obj=object())
    c.logger.debug("hidden at INFO")
    [rec] = log_lines()
    assert rec["message"] == "hello" and rec["severity"] == "INFO" and rec["user_id"] == 7
    assert rec["target"] == "aws" and rec["time"].endswith("Z")


def test_logger_level_from_environment(monkeypatch, log_lines) -> None:
    monkeypatch.setenv("MULTICLOUD_LOG_LEVEL", "debug")
    Logger().debug("shown")
    assert log_lines()[0]["level"] == "DEBUG"


def test_load_handler_errors_say_what_and_how(tmp_path, monkeypatch) -> None:
    (tmp_path / "broken_mod.py").write_text("import not_a_real_dependency_xyz\n")
    (tmp_path / "raising_mod.py").write_text("raise ValueError('bad config')\n")
    (tmp_path / "ok_mod.py").write_text("def handler(e, c):\n    return 1\nvalue = 3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert load_handler("ok_mod.handler")(None, None) == 1
    assert load_handler("ok_mod:handler")(None, None) == 1
    cases = {
        "nohandler": "not of the form",
        "missing_mod_abc.handler": "was not found",
        "broken_mod.handler": "not_a_real_dependency_xyz",
        "raising_mod.handler": "bad config",
        "ok_mod.nope": "no function 'nope'",
        "ok_mod.value": "no function 'value'",
    }
    for spec, text in cases.items():
        with pytest.raises(HandlerLoadError, match=text) as info:
            load_handler(spec)
        assert info.value.fix


def test_match_route() -> None:
    assert match_route("/users/{id}", "/users/42") == {"id": "42"}
    assert match_route("/users/{id}", "/users/42/x") is None
    assert match_route("/files/{rest+}", "/files/a/b.txt") == {"rest": "a/b.txt"}
    assert match_route("/files/{*rest}", "/files/a") == {"rest": "a"}
    assert match_route("/", "/") == {}
    assert match_route("/a", "/b") is None


def test_vendored_runtime_imports_only_the_standard_library(tmp_path) -> None:
    """What an artifact carries imports nothing outside the stdlib, on a bare interpreter."""
    from multicloud.vendor import runtime_files

    # the private server (uvicorn) ships only to the private targets, never into a cloud artifact
    assert not [arc for arc in runtime_files() if "server" in arc or arc.endswith("scheduler.py")]
    private = runtime_files(private=True)
    assert "multicloud/runtime/server.py" in private and "multicloud/runtime/server_protocol.py" in private
    for arc, src in runtime_files().items():
        dest = tmp_path / arc
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(src.read_bytes())
    code = (
        "import sys; sys.path.insert(0, '.'); before = set(sys.modules)\n"
        "import multicloud, multicloud.runtime.aws, multicloud.runtime.azure, multicloud.runtime.gcp\n"
        "import multicloud.runtime.invoke, multicloud.runtime.secrets\n"
        "new = {m.split('.')[0] for m in set(sys.modules) - before}\n"
        "print(sorted(m for m in new if m not in sys.stdlib_module_names and m != 'multicloud'))\n"
    )
    out = subprocess.run([sys.executable, "-S", "-I", "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[]"
    # the cold-start budget: the AWS shim alone loads neither json nor re (nor urllib, typing, logging)
    lean = ("import sys; sys.path.insert(0, '.'); import multicloud.runtime.aws\n"
            "print(sorted({'json', 're', 'urllib.parse', 'typing', 'logging', 'dataclasses'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-S", "-I", "-c", lean], cwd=tmp_path, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[]"
