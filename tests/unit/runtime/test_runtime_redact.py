"""Secret values never reach the runtime's logs: registered at resolution, masked as *** in every line the
structured loggers write (handler exception text and traceback included), in a handler's own prints, and
in the import error of a handler module; lines stay valid JSON; short values follow the documented rule."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from multicloud.runtime import redact, secrets
from multicloud.runtime.context import Context, Logger
from multicloud.runtime.http import HttpRequest
from multicloud.runtime.invoke import HandlerLoadError, handle_http, load_handler
from multicloud.runtime.server_log import JsonLog

SECRET = 's3cr"et\\valué-42'  # quotes, a backslash and non-ASCII: its JSON and repr forms differ from it


@pytest.fixture
def resolved(monkeypatch: pytest.MonkeyPatch) -> str:
    env = {"MULTICLOUD_SECRETS": json.dumps({"API_KEY": "env:API_KEY_SRC"}), "API_KEY_SRC": SECRET}
    assert secrets.resolve_into_environ(env) == ["API_KEY"]
    return SECRET


def leaks(text: str) -> list[str]:
    forms = {SECRET, json.dumps(SECRET)[1:-1], json.dumps(SECRET, ensure_ascii=False)[1:-1], repr(SECRET)[1:-1]}
    return [f for f in forms if f in text]


def test_every_form_of_a_value_is_masked(resolved: str) -> None:
    text = f"raw {SECRET} json {json.dumps(SECRET)} repr {SECRET!r} url {quote(SECRET)}"
    masked = redact.mask(text)
    assert not leaks(masked) and "%22" not in masked.split("url ")[1], masked
    assert masked.count("***") == 4


def test_json_log_lines_are_masked_and_stay_json(resolved: str) -> None:
    out = io.StringIO()
    log = JsonLog(out)
    log.write({"level": "ERROR", "message": f"failed with {SECRET}", "nested": {"k": [SECRET, 1234]}})
    log.access("GET", f"/x/{SECRET}", 500, 10, "127.0.0.1", 1.5, {"function": "f", "note": SECRET})
    log.event("cannot start", level="ERROR", error=f"importing app raised ValueError: {SECRET!r}")
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and not leaks(out.getvalue()), out.getvalue()
    records = [json.loads(line) for line in lines]  # valid JSON after masking
    assert records[0]["nested"] == {"k": ["***", 1234]} and "***" in records[1]["path"]


def test_a_numeric_looking_secret_never_breaks_the_json(monkeypatch: pytest.MonkeyPatch) -> None:
    redact.register("123456", "PIN")
    out = io.StringIO()
    JsonLog(out).access("GET", "/p/123456", 200, 123456, "127.0.0.1", 0.5, {"count": 123456})
    record = json.loads(out.getvalue())
    assert record["bytes"] == 123456 and record["path"] == "/p/***"


def test_handler_exception_text_and_traceback_are_masked(resolved: str) -> None:
    stream = io.StringIO()

    def handler(event: object, context: object) -> object:
        raise ValueError(f"upstream refused key {SECRET}")

    ctx = Context("f", "req-1", "local", logger=Logger(stream))
    request = HttpRequest(method="GET", path="/x")
    result = handle_http(handler, request, ctx)
    assert result.status == 500 and not leaks(result.body.decode(errors="replace"))
    record = json.loads(stream.getvalue())
    assert "***" in record["traceback"] and not leaks(stream.getvalue()), stream.getvalue()


def test_the_handler_logger_masks_message_and_fields(resolved: str) -> None:
    stream = io.StringIO()
    Logger(stream).bind(function="f").info(f"calling with {SECRET}", key=SECRET, count=3)
    assert not leaks(stream.getvalue())
    assert json.loads(stream.getvalue())["key"] == "***"


def test_a_handlers_print_is_masked_once_secrets_are_resolved() -> None:
    """In a real process: resolving secrets wraps stdout and stderr, as the runtime server's process does."""
    code = ("import json, sys; from multicloud.runtime import secrets\n"
            "env = {'MULTICLOUD_SECRETS': json.dumps({'K': 'env:SRC'}), 'SRC': sys.argv[1]}\n"
            "secrets.resolve_into_environ(env)\n"
            "print('debug: key=' + env['K']); sys.stderr.write('warn ' + env['K'] + '\\n')\n")
    proc = subprocess.run([sys.executable, "-c", code, SECRET], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[3])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "debug: key=***\n" and proc.stderr == "warn ***\n", (proc.stdout, proc.stderr)


def test_an_import_error_naming_the_value_is_masked(resolved: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "leaky_mod.py").write_text(f"raise RuntimeError('bad config: ' + {SECRET!r})\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(HandlerLoadError) as info:
        load_handler("leaky_mod.main")
    assert "RuntimeError" in info.value.what and not leaks(str(info.value)), info.value


def test_short_and_empty_values_follow_the_rule(capfd: pytest.CaptureFixture[str]) -> None:
    assert redact.register("", "EMPTY") is False
    assert redact.mask("nothing to see") == "nothing to see"
    assert redact.register("ab1", "SHORT") is False  # short: masked only where it stands alone
    assert redact.register("ab1", "SHORT") is False  # one warning per name
    err = capfd.readouterr().err
    assert err.count("SHORT") == 1 and "ab1" not in err and "stands alone" in err
    assert redact.mask("key=ab1 tab1e xab1 ab1.") == "key=*** tab1e xab1 ***."
    assert redact.register("abcd", "FOUR") is True and redact.mask("xabcdx") == "x***x"


def test_nothing_registered_costs_nothing() -> None:
    text = "plain line"
    assert redact.mask(text) is text and redact.mask_data({"a": 1}) == {"a": 1}
