"""The gateway as a real process in front of real HTTP upstreams on loopback (no engine needed): per-request
routing across a switch, drain before the switch answers, HTTP/1.1 framing, and the answers it gives itself.
"""

from __future__ import annotations

import http.client
import http.server
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from docker_loadgen import raw_exchange

import multicloud.providers.docker.gateway as gateway_module

GATEWAY = Path(gateway_module.__file__)


class Upstream(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, name: str) -> None:
        self.name = name

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path.startswith("/slow"):
                    time.sleep(1.0)
                if self.path == "/chunked":
                    self.send_response(200)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for part in (b"hello ", b"chunked ", b"world"):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.write(b"0\r\n\r\n")
                    return
                self.reply({"upstream": name, "path": self.path})

            def do_HEAD(self) -> None:  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Length", "123")
                self.end_headers()

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                self.reply({"upstream": name, "length": len(body), "te": self.headers.get("Transfer-Encoding")})

            def reply(self, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def upstreams() -> Iterator[tuple[Upstream, Upstream]]:
    blue, green = Upstream("blue"), Upstream("green")
    yield blue, green
    for u in (blue, green):
        u.shutdown()
        u.server_close()


@pytest.fixture
def gateway(tmp_path: Path, upstreams: tuple[Upstream, Upstream]) -> Iterator[dict[str, Any]]:
    port = free_port()
    control = tmp_path / "control.sock"
    state = tmp_path / "upstream"
    cmd = [sys.executable, str(GATEWAY), "serve", "--listen", f"127.0.0.1:{port}", "--upstream",
           upstreams[0].address, "--control", str(control), "--state-file", str(state), "--max-body", "1000",
           "--timeout", "3", "--connect-wait", "0.5"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while not control.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    info = {"port": port, "control": str(control), "state": state, "cmd": cmd}
    yield info
    proc.terminate()
    proc.wait(timeout=10)


def switch(gw: dict[str, Any], upstream: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, str(GATEWAY), "set", upstream, "--control", gw["control"],
                          "--drain-timeout", "10"], capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout))


def test_switch_moves_keepalive_clients_and_waits_for_drain(gateway: dict[str, Any],
                                                            upstreams: tuple[Upstream, Upstream]) -> None:
    blue, green = upstreams
    conn = http.client.HTTPConnection("127.0.0.1", gateway["port"], timeout=10)
    conn.request("GET", "/a")
    assert json.loads(conn.getresponse().read())["upstream"] == "blue"
    slow: dict[str, Any] = {}

    def slow_request() -> None:
        c = http.client.HTTPConnection("127.0.0.1", gateway["port"], timeout=10)
        c.request("GET", "/slow")
        slow["body"] = json.loads(c.getresponse().read())
        slow["done"] = time.monotonic()
        c.close()

    t = threading.Thread(target=slow_request)
    t.start()
    time.sleep(0.2)  # the slow request is in flight on blue
    asked = time.monotonic()
    reply = switch(gateway, green.address)
    answered = time.monotonic()
    t.join()
    assert reply["drained"] is True and reply["previous"] == blue.address
    # the slow request (1 s, 0.2 s in) finished on blue, and the switch answered only after it
    assert slow["body"]["upstream"] == "blue" and answered - asked >= 0.6
    conn.request("GET", "/b")  # same keep-alive client connection, now routed to green
    assert json.loads(conn.getresponse().read())["upstream"] == "green"
    conn.close()
    assert gateway["state"].read_text().strip() == green.address


def test_http_framing_through_the_gateway(gateway: dict[str, Any]) -> None:
    port = gateway["port"]
    chunked = raw_exchange("127.0.0.1", port, b"GET /chunked HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert chunked.startswith(b"HTTP/1.1 200") and b"Transfer-Encoding: chunked" in chunked
    assert chunked.endswith(b"5\r\nworld\r\n0\r\n\r\n")
    body = (b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n")
    answer = raw_exchange("127.0.0.1", port, body)
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1]) == {"upstream": "blue", "length": 7, "te": None}
    cont = raw_exchange("127.0.0.1", port, b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                        b"Expect: 100-continue\r\nConnection: close\r\n\r\nxyz")
    assert cont.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200")
    head = raw_exchange("127.0.0.1", port, b"HEAD /h HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"Content-Length: 123" in head and head.endswith(b"\r\n\r\n")


def test_gateway_answers_itself(gateway: dict[str, Any]) -> None:
    port = gateway["port"]
    assert raw_exchange("127.0.0.1", port, b"BROKEN\r\n\r\n").startswith(b"HTTP/1.1 400")
    big = raw_exchange("127.0.0.1", port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n")
    assert big.startswith(b"HTTP/1.1 413")
    both = raw_exchange("127.0.0.1", port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert both.startswith(b"HTTP/1.1 400")  # request smuggling shape: refused
    switch(gateway, f"127.0.0.1:{free_port()}")  # nothing listens there
    started = time.monotonic()
    down = raw_exchange("127.0.0.1", port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert down.startswith(b"HTTP/1.1 503") and time.monotonic() - started >= 0.4  # waited connect_wait


def test_restarted_gateway_remembers_the_upstream(gateway: dict[str, Any], upstreams: tuple[Upstream, Upstream],
                                                  tmp_path: Path) -> None:
    switch(gateway, upstreams[1].address)
    port = free_port()
    cmd = list(gateway["cmd"])
    cmd[cmd.index("--listen") + 1] = f"127.0.0.1:{port}"
    cmd[cmd.index("--control") + 1] = str(tmp_path / "second.sock")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not (tmp_path / "second.sock").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        answer = raw_exchange("127.0.0.1", port, b"GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["upstream"] == "green"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
