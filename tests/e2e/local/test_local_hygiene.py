"""Process hygiene of the `local` target, through the real CLI in real processes:

* `status` after the supervisor died says so and exits 1;
* a deploy whose fixed port another program holds fails at once, naming the port, and starts nothing;
* a write that fails during a deploy (file too large under `ulimit -f`, disk full) is an exit-1 message
  naming the problem, never a traceback, and the previous version keeps serving (disk full is shown on the
  aws package, the build every aws deploy starts with).
"""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

HANDLER = 'VERSION = "{version}"\n\n\ndef main(event, context):\n    return {{"version": VERSION}}\n'
SPEC = "service: hygiene\nfunctions:\n  api:\n    handler: app.main\n    triggers: [{{http: {{path: /v}}}}]\n" \
       "targets:\n  local: {{{local}}}\n"


def cli(root: Path, *args: str, limit_bytes: int | None = None) -> subprocess.CompletedProcess[str]:
    def limits() -> None:
        if limit_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run([sys.executable, "-m", "multicloud", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "CI": "true"}, preexec_fn=limits, cwd=root)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "hygiene"
    root.mkdir()
    (root / "app.py").write_text(HANDLER.format(version="v1"))
    (root / "multicloud.yaml").write_text(SPEC.format(local=""))
    yield root
    cli(root, "remove", str(root), "--target", "local", "--yes")


def version(root: Path) -> str:
    proc = cli(root, "invoke", str(root), "--target", "local", "--path", "/v")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return str(json.loads(proc.stdout)["version"])


def test_status_after_the_supervisor_died_says_so_and_exits_1(service: Path) -> None:
    assert cli(service, "deploy", str(service), "--target", "local").returncode == 0
    ok = cli(service, "status", str(service), "--target", "local")
    assert ok.returncode == 0 and "local: deployed" in ok.stdout, ok.stdout
    state = json.loads((service / ".multicloud" / "state" / "local.json").read_text())
    for key in ("supervisor_pid", "server_pid"):
        os.kill(int(state[key]), signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        dead = cli(service, "-o", "json", "status", str(service), "--target", "local")
        if dead.returncode == 1:
            break
        time.sleep(0.2)
    assert dead.returncode == 1, dead.stdout + dead.stderr
    report = json.loads(dead.stdout)
    assert "supervisor" in report["down"] and "not running" in report["down"], report
    text = cli(service, "status", str(service), "--target", "local")
    assert text.returncode == 1 and "DOWN" in text.stdout and "Traceback" not in text.stderr


def test_a_port_held_by_another_program_fails_at_once_naming_it(service: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        (service / "multicloud.yaml").write_text(SPEC.format(local=f"port: {port}"))
        started = time.monotonic()
        proc = cli(service, "deploy", str(service), "--target", "local")
        elapsed = time.monotonic() - started
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert f"port {port} on 127.0.0.1 is held by another program" in out and "Traceback" not in out
    assert elapsed < 30, elapsed  # a hang guard; bench-free: the CLI's own start-up dominates
    assert not (service / ".multicloud" / "local" / "control.sock").exists()  # no supervisor was left


def test_a_file_too_large_during_deploy_is_exit_1_and_the_old_version_serves(service: Path) -> None:
    assert cli(service, "deploy", str(service), "--target", "local").returncode == 0
    assert version(service) == "v1"
    (service / "app.py").write_text(HANDLER.format(version="v2"))
    (service / "model.bin").write_bytes(os.urandom(300_000))  # more than the limit below lets a file hold
    proc = cli(service, "deploy", str(service), "--target", "local", limit_bytes=200_000)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "File too large" in out and "ulimit -f" in out and "Traceback" not in out, out
    assert version(service) == "v1"  # nothing half-deployed: the previous release serves


def test_a_full_disk_while_packaging_is_exit_1(service: Path) -> None:
    """The aws package is written to package.zip.tmp first; here that path leads to /dev/full, where the
    kernel answers every write with ENOSPC, as a full disk does."""
    assert cli(service, "build", str(service), "--target", "aws").returncode == 0
    (service / "app.py").write_text(HANDLER.format(version="v2"))
    tmp = service / ".multicloud" / "build" / "aws" / "package.zip.tmp"
    tmp.symlink_to("/dev/full")
    proc = cli(service, "build", str(service), "--target", "aws")  # deploy's first step; no cloud needed
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "No space left on device" in out and "Traceback" not in out, out
    assert "free disk space" in out
