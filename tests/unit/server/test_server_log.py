"""The access log is written in batches by a flusher thread (server_log.JsonLog): no line may be lost or held
back. Real server process, real sockets, real SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import time
from pathlib import Path

from server_harness import BASIC_FUNCTIONS, start_runtime

FUNCTIONS = {"hello": BASIC_FUNCTIONS["hello"]}


def _send(sock: socket.socket, ids: list[str]) -> None:
    """Pipelined GETs on one connection, every answer read (so every access line has been queued)."""
    sock.sendall(b"".join(f"GET /hello/x HTTP/1.1\r\nHost: t\r\nX-Request-Id: {i}\r\n\r\n".encode() for i in ids))
    answers = sock.makefile("rb")
    for _ in ids:
        assert answers.readline().startswith(b"HTTP/1.1 200 ")
        length = 0
        while (line := answers.readline()) != b"\r\n":
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        answers.read(length)


def _logged(log: Path) -> set[str]:
    return {r.get("request_id") for r in map(json.loads, filter(None, log.read_text().splitlines()))
            if r.get("type") == "access"}


def test_access_lines_are_written_within_the_flush_delay(tmp_path: Path) -> None:
    rt = start_runtime(tmp_path, FUNCTIONS)
    try:
        with rt.connect() as sock:
            for batch in range(3):
                ids = [f"live-{batch}-{i}" for i in range(100)]
                _send(sock, ids)
                answered = time.monotonic()
                while not set(ids) <= _logged(rt.log):  # the server keeps running: only the flusher writes them
                    assert time.monotonic() - answered < 2.0, "access lines held back (flush delay is 50 ms)"
                    time.sleep(0.01)
    finally:
        rt.stop()
    assert rt.proc.returncode == 0


def test_sigterm_writes_every_queued_access_line(tmp_path: Path) -> None:
    rt = start_runtime(tmp_path, FUNCTIONS)
    ids = [f"term-{i}" for i in range(500)]
    try:
        with rt.connect() as sock:
            _send(sock, ids)
            rt.proc.send_signal(signal.SIGTERM)  # at once: lines of the last batch are still queued in the process
        assert rt.proc.wait(15) == 0
    finally:
        if rt.proc.poll() is None:
            rt.proc.kill()  # a failed assertion must not leave the server running
    assert set(ids) <= _logged(rt.log)
    assert json.loads(rt.log.read_text().splitlines()[-1])["message"] == "stopped"
