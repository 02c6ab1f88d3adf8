"""The runtime's HTTP intake (`POST /_queues/<q>`, `/_streams/<s>`, multicloud/runtime/intake.py) against a real
nats-server configured exactly as the private targets configure it (multicloud.broker.config.render: the
`producer` user's permissions) and the real runtime process, whose own consumer then hands the messages to
the handler: what the handler logged is the proof that the message went where the function reads it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from server_harness import REPO, Runtime, read_response, request

from multicloud.broker.admin import BrokerAdmin
from multicloud.broker.config import new_passwords, render
from multicloud.broker.topology import runtime_section, topology
from multicloud.project import Project

pytestmark = [pytest.mark.slow]

KEY = "intake-test-key-0123456789"
HANDLER = '''
def work(event, context):
    for m in event.messages:
        context.logger.info("handled", body=m.text, attributes=m.attributes)


def clicks(event, context):
    for m in event.messages:
        context.logger.info("record", body=m.text)
'''
SPEC = """service: shop
functions:
  work:
    handler: app.work
    timeout: 5
    triggers:
      - queue: {name: orders, batch_size: 10}
  clicks:
    handler: app.clicks
    timeout: 5
    triggers:
      - stream: {name: clicks, batch_size: 10, starting_position: trim_horizon}
targets:
  local: {}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    def __init__(self, root: Path) -> None:
        from multicloud.providers.local.broker import find_binary

        binary = find_binary()
        if binary is None:
            if os.environ.get("CI") == "true":
                pytest.fail("CI=true but nats-server is missing; .ci/run installs Debian's nats-server package")
            pytest.skip("nats-server is not installed (apt-get install nats-server)")
        self.root = root
        (root / "multicloud.yaml").write_text(SPEC)
        (root / "app.py").write_text(HANDLER)
        self.project = Project.load(root)
        self.topology = topology(self.project, "local")
        self.passwords = new_passwords()
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        conf = root / "nats.conf"
        conf.write_text(render(self.topology, self.passwords, listen=f"127.0.0.1:{self.port}",
                               store_dir=str(root / "store")))
        self.proc = subprocess.Popen([str(binary), "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        admin = BrokerAdmin([self.url], self.passwords["admin"], where="test nats-server")
        admin.wait_ready(15)
        admin.ensure(self.topology, 1, lambda _line: None)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def start(root: Path, broker: Broker, *, key: bool = True, intake: bool = True) -> Runtime:
    """The runtime as the local target stages it: runtime.json with `broker` (and `intake`), secrets by reference."""
    (root / "runtime.password").write_text(broker.passwords["runtime"])
    (root / "producer.password").write_text(broker.passwords["producer"])
    (root / "auth.key").write_text(KEY)
    functions = {name: {"handler": f"app.{name}", "timeout": 5} for name in ("work", "clicks")}
    config = {"format": 1, "service": "shop", "target": "local", "paths": [str(broker.root)],
              "functions": functions, "auth": {"key": f"file:{root / 'auth.key'}"} if key else {},
              "limits": {}, "broker": runtime_section(
                  broker.topology, [broker.url], f"file:{root / 'runtime.password'}",
                  f"file:{root / 'producer.password'}" if intake else None)}
    cfg = root / "runtime.json"
    cfg.write_text(json.dumps(config))
    log = root / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "multicloud.runtime.server", "--config", str(cfg), "--port", "0"],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if '"listening"' in line:
                return Runtime(proc, int(json.loads(line)["address"].rsplit(":", 1)[1]), log)
        if proc.poll() is not None:
            raise AssertionError(f"server exited {proc.returncode}: {log.read_text()}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"server did not start: {log.read_text()}")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, Broker]]:
    base = tmp_path_factory.mktemp("intake")
    (base / "svc").mkdir()
    broker = Broker(base / "svc")
    (base / "rt").mkdir()
    runtime = start(base / "rt", broker)
    yield runtime, broker
    runtime.stop()
    broker.stop()


def post(rt: Runtime, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
         method: str = "POST") -> tuple[int, dict[str, str], Any]:
    status, hdrs, data = request(rt, method, path, body, {"Content-Length": str(len(body)), **(headers or {})})
    return status, hdrs, json.loads(data) if data else None


def wait_lines(rt: Runtime, message: str, count: int, timeout: float = 15) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        lines = [r for r in rt.records() if r.get("message") == message]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


def test_a_keyed_post_is_stored_and_the_queue_function_handles_it(served: tuple[Runtime, Broker]) -> None:
    rt, broker = served
    status, _, body = post(rt, "/_queues/orders", b'{"sku": "a1"}',
                           {"X-Multicloud-Key": KEY, "X-Multicloud-Attr-Tenant": "acme"})
    assert (status, body["queue"]) == (202, "orders") and body["seq"] >= 1
    status, _, second = post(rt, "/_queues/orders", b"second", {"Authorization": f"Bearer {KEY}"})
    assert status == 202 and second["seq"] == body["seq"] + 1
    handled = wait_lines(rt, "handled", 2)
    assert sorted(h["body"] for h in handled) == sorted(['{"sku": "a1"}', "second"])
    assert next(h for h in handled if h["body"] == "second")["attributes"] == {}
    assert next(h for h in handled if h["body"] != "second")["attributes"] == {"tenant": "acme"}
    access = [r for r in rt.records() if r.get("type") == "access" and r.get("queue") == "orders"]
    assert [r["status"] for r in access][:2] == [202, 202]
    log = rt.log.read_text()
    assert all(pw not in log for pw in broker.passwords.values()) and KEY not in log


def test_a_stream_record_reaches_its_reader(served: tuple[Runtime, Broker]) -> None:
    rt, _ = served
    status, _, body = post(rt, "/_streams/clicks", b"click-1", {"X-Multicloud-Key": KEY})
    assert (status, body["stream"]) == (202, "clicks")
    assert [r["body"] for r in wait_lines(rt, "record", 1)] == ["click-1"]


@pytest.mark.parametrize(("headers", "status"), [({}, 401), ({"X-Multicloud-Key": "wrong"}, 401),
                                                  ({"Authorization": "Bearer wrong"}, 401)])
def test_without_the_right_key_nothing_is_published(served: tuple[Runtime, Broker], headers: dict[str, str],
                                                     status: int) -> None:
    rt, _ = served
    got, hdrs, body = post(rt, "/_queues/orders", b"sneaky", headers)
    assert (got, hdrs.get("www-authenticate"), body) == (status, "Bearer", {"error": "missing or wrong key"})
    time.sleep(0.5)
    assert not [r for r in rt.records() if r.get("message") == "handled" and r.get("body") == "sneaky"]


def test_the_intake_refuses_what_it_cannot_take(served: tuple[Runtime, Broker]) -> None:
    rt, _ = served
    key = {"X-Multicloud-Key": KEY}
    status, _, body = post(rt, "/_queues/nope", b"x", key)
    assert status == 404 and "its queues: orders" in body["error"]
    status, hdrs, _ = post(rt, "/_queues/orders", b"", key, method="GET")
    assert (status, hdrs.get("allow")) == (405, "POST")
    status, _, body = post(rt, "/_queues/orders", b"x", {**key, "X-Multicloud-Attr-Nats-Msg-Id": "1"})
    assert status == 400 and "nats-" in body["error"]
    status, _, body = post(rt, "/_queues/orders", b"x" * (1024 * 1024 + 1), key)  # over nats-server's max_payload
    assert status == 413 and "1048576" in body["error"]
    with rt.connect() as sock:  # over the runtime's own limit: refused on the Content-Length, before the body
        sock.sendall(f"POST /_queues/orders HTTP/1.1\r\nHost: t\r\nX-Multicloud-Key: {KEY}\r\n"
                     f"Content-Length: {6 * 1024 * 1024 + 1}\r\n\r\n".encode())
        assert read_response(sock)[0] == 413


def test_a_runtime_without_a_key_fails_closed(served: tuple[Runtime, Broker], tmp_path: Path) -> None:
    _, broker = served
    rt = start(tmp_path, broker, key=False)
    try:
        status, _, body = post(rt, "/_queues/orders", b"x", {"X-Multicloud-Key": KEY})
        assert status == 403 and "never takes unauthenticated messages" in body["error"]
    finally:
        rt.stop()


def test_a_runtime_without_intake_answers_404(served: tuple[Runtime, Broker], tmp_path: Path) -> None:
    _, broker = served
    rt = start(tmp_path, broker, intake=False)
    try:
        status, _, body = post(rt, "/_queues/orders", b"x", {"X-Multicloud-Key": KEY})
        assert status == 404 and "multicloud send" in body["error"]
    finally:
        rt.stop()


def test_broker_gone_is_503_so_a_client_tries_another_target(served: tuple[Runtime, Broker]) -> None:
    rt, broker = served
    broker.stop()  # last test of the module: the broker does not come back
    time.sleep(0.5)
    status, _, body = post(rt, "/_queues/orders", b"lost?", {"X-Multicloud-Key": KEY})
    assert status == 503 and "nothing was stored" in body["error"]
