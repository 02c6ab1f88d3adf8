"""The HAProxy gateway on a real engine: its configuration as HAProxy reads it, RFC 9112 conformance and slow
clients at the front door, and a switch that moves a kept-alive client to the new version at once while the
old version finishes the request it holds.

The hostile requests are the runtime's own corpus (tests/unit/server/hostile_http.py), loaded by path: the same
bytes must get a conforming answer through the proxy as they get from the runtime itself.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from multicloud.providers.docker import proxy

pytestmark = [pytest.mark.docker, pytest.mark.slow]

_spec = importlib.util.spec_from_file_location(
    "hostile_corpus", Path(__file__).resolve().parents[2] / "unit" / "server" / "hostile_http.py")
assert _spec is not None and _spec.loader is not None
hostile = importlib.util.module_from_spec(_spec)
sys.modules["hostile_corpus"] = hostile
_spec.loader.exec_module(hostile)

EXTRA = """
big:
  handler: app.big
  memory: 256
  timeout: 5
  triggers:
    - http: {path: /big, methods: [GET]}
ahello:
  handler: app.ahello
  memory: 64
  timeout: 1
  triggers:
    - http: {path: /async, methods: [GET]}
"""


@pytest.fixture(scope="module")
def gw(module_deployed: Any) -> Any:
    d = module_deployed("gw", extra_functions=EXTRA)
    d.deploy()
    return d


def _address(d: Any) -> tuple[str, int]:
    parts = urlsplit(d.url)
    return parts.hostname or "", parts.port or 0


def _healthy(d: Any) -> bool:
    host, port = _address(d)
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", "/hello")
        return conn.getresponse().status == 200
    finally:
        conn.close()


@pytest.mark.parametrize(("mode", "network"), [("single", "host"), ("single", "bridge"), ("swarm", "auto")])
def test_gateway_image_configuration_is_valid_for_haproxy(engine: Any, new_project: Any, tmp_path: Path,
                                                          mode: str, network: str) -> None:
    from multicloud.project import Project
    from multicloud.providers.docker.build import build_gateway_image

    project = Project.load(new_project(f"cfg-{mode}-{network}", docker=f"mode: {mode}\ngateway_network: {network}"))
    image = build_gateway_image(engine, project, project.settings("docker"), tmp_path, lambda _m: None)
    assert proxy.image_network(engine, image) == ("host" if network == "host" else "bridge")
    out = engine.containers.run(image, ["haproxy", "-c", "-f", "/etc/multicloud/haproxy.cfg"], remove=True,
                                network_disabled=True, labels={"io.multicloud.test": "gateway-config"},
                                environment={proxy.BIND_ENV: "127.0.0.1:8080"},  # set at create time (host)
                                stderr=True).decode(errors="replace")
    assert "Configuration file is valid" in out, out


def test_hostile_requests_get_conforming_answers_through_the_gateway(gw: Any) -> None:
    host, port = _address(gw)
    wrong = []
    for case in hostile.cases(b"/hello", b"/hello", 200):
        status, data, _ = hostile.exchange(host, port, case.raw, timeout=10)
        if status not in case.through_proxy:
            wrong.append(f"{case.name} ({case.rule}): got {status} {data[:120]!r}")
    assert wrong == [], "\n".join(wrong)
    assert _healthy(gw)


def test_slow_clients_are_cut_at_the_gateway(gw: Any) -> None:
    """A trickled head, a trickled body and a reader that stops reading, all at once: each is cut by the
    gateway's timeouts (head and body: 20 s; a stalled reader: 30 s), and the service keeps serving."""
    host, port = _address(gw)
    results: dict[str, object] = {}

    def trickle(name: str, start: bytes, byte: bytes) -> None:
        started = time.monotonic()
        with socket.create_connection((host, port), timeout=60) as sock:
            sock.sendall(start)
            sock.settimeout(1.0)
            data = b""
            while time.monotonic() - started < 60:
                try:
                    sock.sendall(byte)
                    data += sock.recv(4096)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if data:
                    break
            results[name] = (data[:12], round(time.monotonic() - started, 1))

    def stalled_reader() -> None:
        started = time.monotonic()
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect((host, port))
        sock.sendall(b"GET /big?n=20000000 HTTP/1.1\r\nHost: x\r\n\r\n")  # 20 MB, never read
        time.sleep(40)
        got = 0
        sock.settimeout(5)
        try:
            while chunk := sock.recv(1 << 20):
                got += len(chunk)
        except OSError:
            pass
        sock.close()
        results["reader"] = (got, round(time.monotonic() - started, 1))

    post = b"POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
    threads = [
        threading.Thread(target=trickle, args=("head", b"GET /hello HTTP/1.1\r\nHost: x\r\n", b"X")),
        threading.Thread(target=trickle, args=("body", post, b"y")),
        threading.Thread(target=stalled_reader),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    print(f"\nslow clients at the gateway: {results}")
    assert results["head"][0].startswith(b"HTTP/1.1 408")  # type: ignore[index]
    assert results["body"][0].startswith(b"HTTP/1.1 408")  # type: ignore[index]
    assert results["reader"][0] < 20_000_000  # type: ignore[index, operator]
    assert _healthy(gw)


def test_switch_moves_a_kept_alive_client_and_drains_the_old_version(gw: Any) -> None:
    host, port = _address(gw)
    mode = gw.provider.mode()
    gateway = mode.gateway()
    before = proxy.ready_slots(gateway, mode.admin_user)
    conn = http.client.HTTPConnection(host, port, timeout=20)
    conn.request("GET", "/hello")
    assert json.loads(conn.getresponse().read())["version"] == "v1"
    sock = conn.sock
    slow: list[tuple[int, bytes]] = []

    def in_flight() -> None:
        c = http.client.HTTPConnection(host, port, timeout=20)
        c.request("GET", "/slow?s=1.5")
        r = c.getresponse()
        slow.append((r.status, r.read()))
        c.close()

    t = threading.Thread(target=in_flight)
    t.start()
    time.sleep(0.3)
    spec = gw.spec.read_text()
    gw.spec.write_text(spec.replace('VERSION: "v1"', 'VERSION: "v2"'))
    gw.reload()
    gw.deploy()
    t.join(30)
    assert slow == [(200, b"late")]  # the old version finished the request it held before it was stopped
    conn.request("GET", "/hello")
    assert json.loads(conn.getresponse().read())["version"] == "v2"
    assert conn.sock is sock  # the same client connection, now served by the new version
    conn.close()
    after = proxy.ready_slots(mode.gateway(), mode.admin_user)
    assert len(before) == 1 and len(after) == 1 and before != after
    assert [c.labels[proxy.SLOT_LABEL] for c in mode.function_containers()] == after


def test_an_async_handler_is_served_on_the_loop_through_the_gateway_and_its_timeout_cancels_it(gw: Any) -> None:
    """The docker target's image runs the private runtime: an `async def` handler is awaited on its loop (no
    worker thread), and past its 1 s timeout it is cancelled with a 504; the next call is served."""
    import urllib.error
    import urllib.request

    def get(path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(gw.url.rstrip("/") + path, timeout=15) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:  # 504 and the like, with their body
            return err.code, err.read()

    status, body = get("/async")
    answer = json.loads(body)
    assert status == 200 and answer["async"] is True and answer["thread"] == "MainThread"
    assert 0 < answer["remaining_ms"] <= 1000
    started = time.monotonic()
    status, body = get("/async?s=30")
    assert status == 504 and json.loads(body) == {"error": "function timed out after 1 s"}
    assert time.monotonic() - started < 5
    assert get("/async?s=0.01")[0] == 200 and _healthy(gw)


def test_a_missing_proxy_image_is_pulled_or_named_with_the_air_gapped_fix(engine: Any) -> None:
    from multicloud.errors import OperationError
    from multicloud.providers.docker.images import ensure_image

    said: list[str] = []
    ensure_image(engine, proxy.default_proxy_image(_settings("multicloud/python:3.11-bookworm")), said.append,
                 build_command="multicloud docker proxy-image", setting="targets.docker.proxy_image")
    assert said == []  # present: nothing to pull
    with pytest.raises(OperationError) as built_here:
        ensure_image(engine, "multicloud/haproxy:0.0-nowhere", said.append,
                     build_command="multicloud docker proxy-image", setting="targets.docker.proxy_image")
    assert "multicloud docker proxy-image" in (built_here.value.fix or "") and said == []  # never pulled
    with pytest.raises(OperationError) as unreachable:  # a registry that refuses: the pull fails, and says how
        ensure_image(engine, "127.0.0.1:9/multicloud-test/haproxy:2.6", said.append,
                     build_command="multicloud docker proxy-image", setting="targets.docker.proxy_image")
    assert said == ["127.0.0.1:9/multicloud-test/haproxy:2.6 is not on the engine: pulling it"], said
    assert "multicloud docker proxy-image" in (unreachable.value.fix or "")


def _settings(base_image: str) -> Any:
    from multicloud.providers.docker.settings import DockerSettings

    return DockerSettings(base_image=base_image)


def test_default_proxy_image_follows_the_base_image() -> None:
    assert proxy.default_proxy_image(_settings("multicloud/python:3.11-bookworm")) == "multicloud/haproxy:2.6-bookworm"
    assert proxy.default_proxy_image(_settings("python:3.11-slim")) == "haproxy:2.6"
    from multicloud.providers.docker.settings import DockerSettings

    assert proxy.default_proxy_image(DockerSettings(proxy_image="reg.example/haproxy:2.8")) == "reg.example/haproxy:2.8"
