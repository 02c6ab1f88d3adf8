"""The broken-spec corpus: every file under tests/specs/bad/ must exit 2 with one located message.

Each spec's first line says what is expected: `# expect: line=N field=dotted.path contains="text"`.
The CLI runs in-process (typer's runner) for speed; one case runs as a real subprocess to prove that no
traceback reaches the terminal. Inputs a checked-in file cannot be (an empty file, binary garbage, a
directory or a FIFO named multicloud.yaml, link loops, a handler that raises at import) are made in a
temporary folder by `test_made_up_inputs`. Their time and memory: bench/hostile_specs.py.
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
    first = path.read_text(encoding="utf-8-sig", errors="replace").splitlines()[0]
    assert first.startswith("# expect:"), f"{path.name} has no '# expect:' header"
    return dict(tok.split("=", 1) for tok in shlex.split(first.removeprefix("# expect:")))


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 47 + 40


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


def _made(tmp: Path, kind: str) -> Path:
    """A folder holding one input a checked-in file cannot be; returns the path to pass to the CLI."""
    root = tmp / kind
    root.mkdir()
    (root / "handler.py").write_text("def main(event, context):\n    return 1\n")
    spec = root / "multicloud.yaml"
    if kind == "empty-file":
        spec.write_bytes(b"")
    elif kind == "binary-garbage":
        spec.write_bytes(bytes(range(256)) * 8)
    elif kind == "utf16-file":
        spec.write_text("service: demo\nfunctions: {hello: {handler: handler.main}}\n", encoding="utf-16")
    elif kind == "directory-named-spec":
        spec.mkdir()
    elif kind == "fifo-named-spec":
        os.mkfifo(spec)
    elif kind == "device-link":
        spec.symlink_to("/dev/zero")
    elif kind == "symlink-loop":
        spec.symlink_to(spec)
    elif kind == "dangling-link":
        spec.symlink_to(root / "gone.yaml")
    elif kind == "two-megabytes":
        spec.write_text("service: demo\n# " + "x" * 2_000_000 + "\n")
    elif kind == "scalar-document":
        spec.write_text("just some text\n")
    elif kind == "spec-path-is-directory":
        spec.mkdir()
        return spec
    return root


MADE = {
    "empty-file": "must be a mapping", "binary-garbage": "not UTF-8", "utf16-file": "UTF-16 text",
    "directory-named-spec": "is a directory", "fifo-named-spec": "not a regular file",
    "device-link": "not a regular file", "symlink-loop": "symbolic links", "dangling-link": "not found",
    "two-megabytes": "over 1 MB", "scalar-document": "must be a mapping", "spec-path-is-directory": "is a directory",
}


@pytest.mark.parametrize("kind", sorted(MADE))
def test_made_up_inputs(tmp_path: Path, kind: str) -> None:
    target = _made(tmp_path, kind)
    result = CliRunner().invoke(app, ["validate", str(target)])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    first = result.output.strip().splitlines()[0]
    assert first.startswith(f"error: {target if kind == 'spec-path-is-directory' else target / 'multicloud.yaml'}")
    assert MADE[kind] in first, first
    assert "Traceback" not in result.output


IMPORT_FAILURES = {
    "raises": ("raise RuntimeError('the config server is unreachable')\n", "the config server is unreachable"),
    "missing-dependency": ("import definitely_not_installed_pkg\n", "definitely_not_installed_pkg"),
}


@pytest.mark.parametrize("case", sorted(IMPORT_FAILURES))
def test_handler_failing_at_import_is_exit_1_with_the_modules_error(tmp_path: Path, case: str) -> None:
    """`validate` reads handlers with `ast` (importing user code could have side effects), so an import-time
    failure shows when the runtime starts: deploy exits 1 with the module's own error, nothing left running."""
    source, message = IMPORT_FAILURES[case]
    root = tmp_path / "svc"
    root.mkdir()
    (root / "handler.py").write_text(source + "\n\ndef main(event, context):\n    return 1\n")
    (root / "multicloud.yaml").write_text("service: imports\nfunctions:\n  hello:\n    handler: handler.main\n"
                                          "    triggers: [{http: {path: /x}}]\ntargets:\n  local: {}\n")
    env = {**os.environ, "CI": "true"}
    try:
        proc = subprocess.run([sys.executable, "-m", "multicloud", "deploy", str(root)], capture_output=True,
                              text=True, env=env, timeout=120)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 1, out
        assert message in out and "Traceback" not in out, out
        status = subprocess.run([sys.executable, "-m", "multicloud", "status", str(root), "-t", "local"],
                                capture_output=True, text=True, env=env, timeout=60)
        assert "running" not in status.stdout, status.stdout
    finally:
        subprocess.run([sys.executable, "-m", "multicloud", "remove", str(root), "-t", "local", "--yes"],
                       capture_output=True, env=env, timeout=120)
