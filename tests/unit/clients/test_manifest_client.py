"""`Client.from_manifest`: what it sends, the auth it adds, when it fails over and what it raises, against
real HTTP servers on 127.0.0.1 started here. The same rules as clients/js/test/client.test.mjs; the
deployed run of both clients is tests/e2e/client/test_clients_hybrid.py."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from multicloud.client import Client
from multicloud.errors import UnsupportedError, UsageError
from multicloud.manifest_client import AuthRequiredError, UnavailableError

Answer = Callable[[str, str, dict[str, str], bytes], tuple[int, object]]


def echo(name: str) -> Answer:
    return lambda method, path, headers, body: (200, {
        "name": name, "method": method, "path": path, "body": body.decode(), "key": headers.get("x-multicloud-key"),
        "type": headers.get("content-type"), "signed": headers.get("x-signed")})


@pytest.fixture
def serve() -> Iterator[Callable[[Answer], str]]:
    servers: list[ThreadingHTTPServer] = []

    def start(answer: Answer) -> str:
        class Handler(BaseHTTPRequestHandler):
            def handle_one(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                status, data = answer(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                if status == 0:  # hang: longer than the client waits
                    time.sleep(1.5)
                    return
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PUT = do_DELETE = handle_one

            def log_message(self, *args: Any) -> None:
                return None

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


KEY = {"type": "key", "header": "X-Multicloud-Key"}
NONE = {"type": "none"}


def manifest(*targets: tuple[str, str], auth: dict[str, str] | None = None) -> dict[str, Any]:
    routes = [{"path": "/orders/{id}", "methods": ["GET", "POST"], "auth": auth or NONE},
              {"path": "/orders", "methods": ["GET"], "auth": NONE}]
    return {"manifest": "multicloud-endpoints", "version": 1, "service": "shop", "queues": {"jobs": {}},
            "functions": {"api": {"placement": {"data_class": "public", "order": [t for t, _ in targets]},
                                  "targets": [{"target": t, "url": u, "routes": routes} for t, u in targets]}}}


def test_request_reaches_the_function_and_the_reply_says_who_answered(serve: Callable[[Answer], str]) -> None:
    client = Client.from_manifest(manifest(("local", serve(echo("a")))))
    reply = client.call("api", method="post", path="/orders/7", query={"tag": ["x", "y z"], "n": "1"},
                        json={"sku": "A-1"})
    assert (reply.target, reply.status, reply.ok) == ("local", 200, True)
    seen = reply.json()
    assert isinstance(seen, dict)
    assert (seen["method"], seen["path"], seen["body"], seen["type"]) == (
        "POST", "/orders/7?tag=x&tag=y+z&n=1", '{"sku": "A-1"}', "application/json")
    assert client.call("api").json()["path"] == "/orders"  # type: ignore[index]
    only_params = manifest(("local", "http://127.0.0.1:9"))
    only_params["functions"]["api"]["targets"][0]["routes"].pop()  # left: /orders/{id}
    with pytest.raises(UsageError, match="have parameters"):
        Client.from_manifest(only_params).call("api")
    with pytest.raises(UsageError, match="use one of: api"):
        client.call("nope")


def test_keys_from_options_then_environment_and_a_target_without_one_is_skipped(
        serve: Callable[[Answer], str], monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = serve(echo("a")), serve(echo("b"))
    m = manifest(("local", a), ("docker", b), auth=KEY)
    monkeypatch.delenv("MULTICLOUD_KEY_LOCAL", raising=False)
    monkeypatch.setenv("MULTICLOUD_KEY_DOCKER", "env-key")
    reply = Client.from_manifest(m).call("api", path="/orders/1")
    assert (reply.target, reply.json()["key"]) == ("docker", "env-key")  # type: ignore[index]
    per_fn = Client.from_manifest(m, keys={"local": "t", "local/api": "fn"}).call("api", path="/orders/1")
    assert (per_fn.target, per_fn.json()["key"]) == ("local", "fn")  # type: ignore[index]
    assert Client.from_manifest(m, keys={"local": "t"}).call("api", path="/orders").json()["key"] is None  # type: ignore[index]
    monkeypatch.delenv("MULTICLOUD_KEY_DOCKER")
    with pytest.raises(AuthRequiredError, match="MULTICLOUD_KEY_LOCAL.*MULTICLOUD_KEY_DOCKER"):
        Client.from_manifest(m).call("api", path="/orders/1")


def test_iam_routes_are_signed_by_the_targets_signer(serve: Callable[[Answer], str]) -> None:
    a = serve(echo("a"))
    iam = {"type": "iam", "scheme": "aws-sigv4", "service": "lambda"}
    seen: list[tuple[str, str, bytes, dict[str, str]]] = []

    def sign(method: str, url: str, headers: Any, body: bytes, auth: Any) -> dict[str, str]:
        seen.append((method, url, body, dict(auth)))
        return {"X-Signed": f"{method} {url}"}

    reply = Client.from_manifest(manifest(("aws", a), auth=iam), signers={"aws": sign}).call(
        "api", method="POST", path="/orders/9", json={"a": 1})
    assert reply.json()["signed"] == f"POST {a}/orders/9"  # type: ignore[index]
    assert seen == [("POST", f"{a}/orders/9", b'{"a": 1}', iam)]
    with pytest.raises(AuthRequiredError, match="aws-sigv4"):
        Client.from_manifest(manifest(("aws", a), auth=iam)).call("api", path="/orders/1")


def test_failover_rules(serve: Callable[[Answer], str]) -> None:
    b = serve(echo("b"))
    refused = Client.from_manifest(manifest(("local", closed_port()), ("docker", b)))
    assert refused.call("api", method="POST", path="/orders/1", json={}).target == "docker"
    busy = serve(lambda m, path, h, body: (int(path.rsplit("/", 1)[1]), {"error": "x"}))
    client = Client.from_manifest(manifest(("local", busy), ("docker", b)))
    assert client.call("api", method="POST", path="/orders/503").target == "docker"
    assert client.call("api", path="/orders/502").target == "docker"
    assert client.call("api", path="/orders/504").target == "docker"
    post = client.call("api", method="POST", path="/orders/504")  # it may have run: not sent twice
    assert (post.target, post.status, post.ok) == ("local", 504, False)
    for status in (404, 500):  # the function's own answers
        assert (client.call("api", path=f"/orders/{status}").target, client.call(
            "api", path=f"/orders/{status}").status) == ("local", status)
    slow = serve(lambda *_: (0, None))
    timed = Client.from_manifest(manifest(("aws", slow), ("local", b)), timeout=0.3)
    assert timed.call("api", path="/orders/1").target == "local"


def test_nothing_answers_unavailable_with_each_attempt(serve: Callable[[Answer], str]) -> None:
    busy = serve(lambda *_: (503, {"error": "draining"}))
    client = Client.from_manifest(manifest(("local", closed_port()), ("docker", busy)))
    with pytest.raises(UnavailableError) as err:
        client.call("api", path="/orders/1")
    assert [(a["target"], a.get("status")) for a in err.value.attempts] == [("local", None), ("docker", 503)]
    assert "ConnectionRefusedError" in str(err.value.attempts[0]["error"])
    with pytest.raises(UnavailableError, match="not live on aws"):
        client.call("api", path="/orders/1", target="aws")


def with_queue(send: list[dict[str, Any]]) -> dict[str, Any]:
    data = manifest(("local", "http://127.0.0.1:9"))
    data["queues"] = {"jobs": {"functions": ["work"], "targets": [e["target"] for e in send], "send": send}}
    return data


def intake(target: str, url: str) -> dict[str, Any]:
    return {"target": target, "url": f"{url}/_queues/jobs", "auth": KEY}


def test_send_posts_to_the_first_intake_with_the_key_and_attribute_headers(serve: Callable[[Answer], str]) -> None:
    seen: list[tuple[str, str, dict[str, str], bytes]] = []

    def accept(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, object]:
        seen.append((method, path, headers, body))
        return 202, {"queue": "jobs", "seq": 7}

    url = serve(accept)
    client = Client.from_manifest(with_queue([intake("local", url), {"target": "aws", "url": None, "why": "SigV4"}]),
                                  keys={"local": "k1"})
    sent = client.send("jobs", '{"n": 1}', attributes={"Tenant": "acme"})
    assert (sent.target, sent.channel, sent.name, sent.destination, sent.message_id) == (
        "local", "queue", "jobs", f"{url}/_queues/jobs", "7")
    method, path, headers, body = seen[0]
    assert (method, path, body) == ("POST", "/_queues/jobs", b'{"n": 1}')
    assert (headers["x-multicloud-key"], headers["x-multicloud-attr-tenant"]) == ("k1", "acme")


def test_send_fails_over_when_a_target_does_not_take_it(serve: Callable[[Answer], str]) -> None:
    busy = serve(lambda *_: (503, {"error": "the broker is not connected: nothing was stored"}))
    good = serve(lambda *_: (202, {"queue": "jobs", "seq": 1}))
    targets = [intake("local", closed_port()), intake("docker", busy), intake("local2", good)]
    client = Client.from_manifest(with_queue(targets), keys={"local": "a", "docker": "b", "local2": "c"})
    assert client.send("jobs", b"x").target == "local2"
    with pytest.raises(UnavailableError) as err:
        client.send("jobs", b"x", target="docker")
    assert err.value.attempts == [{"target": "docker", "url": f"{busy}/_queues/jobs", "status": 503}]


def test_send_errors_are_typed(serve: Callable[[Answer], str]) -> None:
    refusing = serve(lambda m, p, h, b: (401, {"error": "missing or wrong key"}) if h.get("x-multicloud-key") != "good"
                     else (413, {"error": "message over the broker's 1048576 byte limit"}))
    data = with_queue([intake("local", refusing)])
    with pytest.raises(AuthRequiredError, match="HTTP 401"):
        Client.from_manifest(data, keys={"local": "bad"}).send("jobs", b"x")
    with pytest.raises(UsageError, match="HTTP 413.*1048576"):
        Client.from_manifest(data, keys={"local": "good"}).send("jobs", b"x")
    with pytest.raises(AuthRequiredError, match="MULTICLOUD_KEY_LOCAL"):
        Client.from_manifest(data).send("jobs", b"x")
    with pytest.raises(UsageError, match="attribute name 'nats-msg-id'"):
        Client.from_manifest(data, keys={"local": "good"}).send("jobs", b"x", attributes={"nats-msg-id": "1"})


def test_send_is_unsupported_where_no_target_has_an_intake() -> None:
    client = Client.from_manifest(with_queue([{"target": "aws", "url": None, "why": "SQS wants SigV4"}]))
    with pytest.raises(UnsupportedError, match="aws: SQS wants SigV4") as err:
        client.send("jobs", b"{}")
    assert "multicloud send PATH -t TARGET --queue jobs" in str(err.value.fix)
    with pytest.raises(UsageError, match="no queue 'other'"):
        client.send("other", b"{}")
    with pytest.raises(UsageError, match="no stream 'jobs'"):
        client.send(stream="jobs", body=b"{}")
