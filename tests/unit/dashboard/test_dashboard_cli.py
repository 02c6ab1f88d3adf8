"""`multicloud dashboard` as a user meets it: listed in --help without loading the web stack, exit 3 with
the install command when the extra is missing, exit 2 on bad options, and a wheel that carries every
template and asset."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from multicloud.cli.app import app, hoist_global_options

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "multicloud" / "dashboard"
WEB = {"starlette", "uvicorn", "anyio", "multipart", "python_multipart", "h11"}


def run_cli(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "CI": "true"}, timeout=60)


def test_help_lists_it_without_loading_the_web_stack() -> None:
    proc = run_cli("import sys; before = set(sys.modules)\n"
                   "from multicloud.cli.app import app\n"
                   "try:\n    app(args=['--help'], prog_name='multicloud')\nexcept SystemExit:\n    pass\n"
                   "print(sorted({m.split('.')[0] for m in set(sys.modules) - before}))")
    assert "dashboard" in proc.stdout
    loaded = set(eval(proc.stdout.strip().splitlines()[-1]))  # noqa: S307 - our own printed list
    assert not (loaded & WEB), loaded & WEB


@pytest.mark.parametrize("blocked", ["starlette", "uvicorn", "python_multipart"])
def test_without_the_extra_it_exits_3_naming_the_install(blocked: str) -> None:
    # the module is made unimportable the way a missing package is (ImportError on import)
    proc = run_cli(f"import sys; sys.modules[{blocked!r}] = None\n"
                   "from multicloud.cli import main\nsys.argv = ['multicloud', 'dashboard', 'examples/hello-http']\n"
                   "main()")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "pip install 'multicloud[dashboard]'" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("args", [["--refresh", "0.1"], ["--port", "70000"], ["--target", "nosuch"],
                                  ["--tls-cert", "c.pem"]])
def test_bad_options_exit_2(args: list[str]) -> None:
    res = CliRunner().invoke(app, hoist_global_options(["dashboard", str(ROOT / "examples" / "hello-http"), *args]))
    assert res.exit_code == 2, res.output


def test_bad_spec_exits_2(tmp_path: Path) -> None:
    (tmp_path / "multicloud.yaml").write_text("service: Bad_Name\nfunctions: {}\n")
    res = CliRunner().invoke(app, ["dashboard", str(tmp_path), "--port", "0"])
    assert res.exit_code == 2, res.output


@pytest.mark.slow
def test_wheel_carries_templates_and_assets(tmp_path: Path) -> None:
    """Build the real wheel, unpack it and render a template from the unpacked package (not the checkout)."""
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    wheel = next(tmp_path.glob("multicloud-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"multicloud/dashboard/{p.relative_to(PACKAGE).as_posix()}" for p in PACKAGE.rglob("*")
               if p.is_file() and p.suffix in (".html", ".js", ".css", ".txt", ".py")}
    assert shipped and shipped <= names, shipped - names
    unpacked = tmp_path / "unpacked"
    zipfile.ZipFile(wheel).extractall(unpacked)
    code = ("import sys; sys.path.insert(0, sys.argv[1])\n"
            "import multicloud.dashboard.app as a\n"
            "assert a.__file__.startswith(sys.argv[1]), a.__file__\n"
            "from importlib.resources import files\n"
            "assert files('multicloud.dashboard').joinpath('static/htmx-2.0.11.min.js').read_bytes()\n"
            "print(len(a.environment().get_template('index.html').render(csrf='x', refresh_s=5, poll_s=2,"
            " request=None, now=__import__('datetime').datetime.now(), rows=[], targets=[])))")
    out = subprocess.run([sys.executable, "-I", "-c", code, str(unpacked)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) > 500
