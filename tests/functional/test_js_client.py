"""The JavaScript client (clients/js) from the Python suite: its own tests under Node's test runner, its
type declarations under `tsc --strict`, and the package npm would publish.

Needs Node 18+ (and, for the type check, `npm ci` in clients/js: .ci/run does both)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

JS = Path(__file__).resolve().parents[2] / "clients" / "js"


def node() -> str:
    exe = shutil.which("node")
    if exe is None:
        pytest.fail("node is not installed: the JavaScript client needs Node 18+ (.ci/run installs it)")
    major = int(subprocess.run([exe, "--version"], capture_output=True, text=True, check=True).stdout[1:].split(".")[0])
    assert major >= 18, f"Node {major} is too old for the client (18+)"
    return exe


def test_the_js_clients_own_tests_pass_under_node_test() -> None:
    run = subprocess.run([node(), "--test", "--test-reporter=tap", "test/"], cwd=JS, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    counts = dict(line[2:].split(" ", 1) for line in run.stdout.splitlines() if line.startswith("# ") and
                  line[2:].split(" ", 1)[0] in ("pass", "fail"))
    assert counts["fail"] == "0" and int(counts["pass"]) >= 15, run.stdout


def test_type_declarations_hold_under_tsc_strict() -> None:
    tsc = JS / "node_modules" / "typescript" / "bin" / "tsc"
    if not tsc.exists():
        pytest.fail("typescript is not installed in clients/js: run `npm ci --prefix clients/js` (.ci/run does)")
    run = subprocess.run([node(), str(tsc), "-p", "test/tsconfig.json"], cwd=JS, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_npm_package_holds_the_module_its_types_and_no_dependencies() -> None:
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is not installed (.ci/run installs Node with npm)")
    run = subprocess.run([npm, "pack", "--dry-run", "--json"], cwd=JS, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    packed = json.loads(run.stdout)[0]
    assert sorted(f["path"] for f in packed["files"]) == ["README.md", "package.json", "src/index.d.ts",
                                                           "src/index.js"]
    meta = json.loads((JS / "package.json").read_text())
    assert meta["type"] == "module" and "dependencies" not in meta
    assert meta["exports"]["."] == {"types": "./src/index.d.ts", "default": "./src/index.js"}
    assert meta["engines"]["node"] == ">=18"
