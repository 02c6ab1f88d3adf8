"""`multicloud dev` serves the example in the foreground and stops cleanly on Ctrl-C (SIGINT)."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_dev_serves_and_stops_on_sigint(tmp_path: Path) -> None:
    project = tmp_path / "hello"
    shutil.copytree(ROOT / "examples" / "hello-http", project)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "multicloud", "dev", str(project), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert '"outcome": "drained"' in out
