"""`multicloud dev` serves the example in the foreground and stops its server, drained, on Ctrl-C (SIGINT),
SIGTERM or SIGHUP; killed outright (SIGKILL), its server notices the parent is gone and stops too."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_dev(tmp_path: Path) -> tuple[subprocess.Popen[str], int]:
    project = tmp_path / "hello"
    shutil.copytree(ROOT / "examples" / "hello-http", project)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "multicloud", "dev", str(project), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, port


def wait_port_closed(port: int, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"something still listens on {port}")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_dev_serves_and_stops_its_server_on_a_signal(tmp_path: Path, sig: int) -> None:
    proc, port = start_dev(tmp_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello?name=Dev", timeout=2) as resp:
                    body = json.loads(resp.read())
                break
            except OSError:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "dev server did not come up"
                time.sleep(0.2)
        assert body == {"message": "Hello, Dev!", "target": "local"}
    finally:
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert '"outcome": "drained"' in out
    wait_port_closed(port, seconds=1)  # the server is gone with the command, not left behind


def test_dev_killed_outright_takes_its_server_along(tmp_path: Path) -> None:
    proc, port = start_dev(tmp_path)
    deadline = time.monotonic() + 60
    while True:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
    proc.kill()
    proc.communicate(timeout=30)
    wait_port_closed(port)


def test_dev_on_a_taken_port_is_a_one_line_error(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        project = tmp_path / "hello"
        shutil.copytree(ROOT / "examples" / "hello-http", project)
        port = holder.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "multicloud", "dev", str(project), "--port", str(port)],
                              capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"127.0.0.1:{port}" in proc.stdout + proc.stderr


def wait_group_gone(pgid: int, seconds: float = 10) -> None:
    """Every process of the group (the command, its uvicorn server, anything they started) has exited."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    left = subprocess.run(["ps", "-o", "pid,stat,args", "-g", str(pgid)], capture_output=True, text=True).stdout
    raise AssertionError(f"processes of group {pgid} outlived `multicloud dev`:\n{left}")


def test_dev_on_sigterm_leaves_no_process_of_its_group(tmp_path: Path) -> None:
    """A service with queue, stream and storage functions (the orders example): `dev` runs its uvicorn
    server (and no broker); after SIGTERM not one process of the command's own process group is left."""
    project = tmp_path / "orders"
    shutil.copytree(ROOT / "examples" / "orders", project)
    port = free_port()
    env = {**os.environ, "ORDERS_API_KEY": "dev-key-0123456789", "MULTICLOUD_AUTH_KEY": "dev-auth-0123456789"}
    proc = subprocess.Popen([sys.executable, "-m", "multicloud", "dev", str(project), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)  # its own group: pgid == pid
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                    assert json.loads(resp.read())["status"] == "ok"
                break
            except OSError:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "dev server did not come up"
                time.sleep(0.2)
        server = subprocess.run(["pgrep", "-g", str(proc.pid), "-f", "multicloud.runtime.server"],
                                capture_output=True, text=True).stdout.split()
        assert server, "the runtime server runs in the command's process group"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert '"server": "uvicorn"' in out and '"outcome": "drained"' in out
    wait_group_gone(proc.pid)
    wait_port_closed(port, seconds=1)
