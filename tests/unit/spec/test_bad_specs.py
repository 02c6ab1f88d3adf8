"""The broken-spec corpus: every file under tests/specs/bad/ must exit 2 with one located message.

Each spec's first line says what is expected: `# expect: line=N field=dotted.path contains="text"`.
The CLI runs in-process (typer's runner) for speed; one case runs as a real subprocess to prove that no
traceback reaches the terminal.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from multicloud.cli.app import app

CORPUS = Path(__file__).resolve().parents[2] / "specs" / "bad"
CASES = sorted(CORPUS.glob("*.yaml"))


def expectation(path: Path) -> dict[str, str]:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect:"), f"{path.name} has no '# expect:' header"
    return dict(tok.split("=", 1) for tok in shlex.split(first.removeprefix("# expect:")))


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("spec", CASES, ids=[c.stem for c in CASES])
def test_broken_spec_exits_2_with_located_message(spec: Path) -> None:
    expect = expectation(spec)
    result = CliRunner().invoke(app, ["validate", str(spec)])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # an error message, not a crash
    out = result.stderr if hasattr(result, "stderr") else result.output
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert lines, "no message"
    first = lines[0]
    assert first.startswith("error: "), first
    assert str(spec) in first, f"message does not name the file: {first}"
    if "line" in expect:
        assert re.search(rf"{re.escape(str(spec))}:{expect['line']}(:\d+)?:", first), first
    if "field" in expect:
        assert f": {expect['field']}: " in first, first
    assert expect["contains"] in out, out
    assert "Traceback" not in out


def test_json_output_carries_location() -> None:
    spec = CORPUS / "08-unknown-function-key.yaml"
    result = CliRunner().invoke(app, ["--output", "json", "validate", str(spec)])
    assert result.exit_code == 2
    import json

    data = json.loads(result.stdout)
    err = data["error"]["errors"][0]
    assert (err["line"], err["field"]) == (6, "functions.hello.memroy")
    assert "memory" in err["fix"]


def test_subprocess_has_no_traceback_and_never_echoes_the_secret() -> None:
    spec = CORPUS / "12-literal-secret.yaml"
    env = {**os.environ, "CI": "true"}
    proc = subprocess.run([sys.executable, "-m", "multicloud", "validate", str(spec)],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "literal secret" in proc.stderr
    assert "sk-live-1234567890" not in proc.stderr + proc.stdout
