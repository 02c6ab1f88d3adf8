"""The `local` target end to end through the LocalProvider API: real background processes, real HTTP."""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from local_harness import Deployment

from multicloud.errors import OperationError
from multicloud.provider import InvokeRequest

pytestmark = pytest.mark.slow


def get(url: str, timeout: float = 10) -> tuple[int, dict]:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.status, json.loads(resp.read())


def test_deploy_invoke_status_logs_remove(deployment: Deployment) -> None:
    messages: list[str] = []
    build, result = deployment.build_and_deploy(messages.append)
    assert result.changed and result.target == "local"
    url = result.details["url"]
    assert url.startswith("http://127.0.0.1:")
    assert {e.url for e in result.endpoints} >= {f"{url}/items/{{id}}", f"{url}/admin", f"{url}/_events/worker"}
    assert get(f"{url}/items/7")[1]["id"] == "7"

    provider = deployment.provider
    res = provider.invoke(InvokeRequest("api", path="/items/42", query={"q": ["1"]}))
    assert res.ok and json.loads(res.body)["id"] == "42"
    # auth: key -> the provider sends the generated key; without it the route answers 401
    res = provider.invoke(InvokeRequest("admin"))
    assert res.ok and json.loads(res.body) == {"token_ok": True, "version": "1"}
    with pytest.raises(urllib.error.HTTPError) as err:
        get(f"{url}/admin")
    assert err.value.code == 401
    # a non-HTTP kind goes as a generated CloudEvent
    res = provider.invoke(InvokeRequest("worker", trigger="queue"))
    assert res.ok and json.loads(res.body) == {"failed": []}
    res = provider.invoke(InvokeRequest("worker", trigger="queue",
                                        event={"messages": [{"id": "a", "body": "ok"}, {"id": "b", "body": "bad"}]}))
    assert json.loads(res.body) == {"failed": ["b"]}
    # a key-protected function's events endpoint needs the key too; the provider sends it
    res = provider.invoke(InvokeRequest("admin", trigger="direct"))
    assert res.ok and json.loads(res.body)["token_ok"] is True

    status = provider.status()
    assert status.deployed and {f.state for f in status.functions} == {"running"}
    assert all(f.version == result.version for f in status.functions)

    time.sleep(0.2)  # access lines are flushed every 50 ms
    records = list(provider.logs(None, None, False))
    # access lines name the route, never the value in the path
    assert any(r.function == "api" and "GET /items/{id} 200" in r.message for r in records)
    assert not [r for r in records if "/items/42" in r.message or "/items/7" in r.message]
    assert any(r.function == "worker" and "batch" in r.message for r in records)
    admin_only = list(provider.logs("admin", None, False))
    assert admin_only and all(r.function == "admin" for r in admin_only)
    log_text = Path(result.details["log"]).read_text()
    key = (deployment.root / ".multicloud" / "local" / "auth.key").read_text().strip()
    assert key not in log_text and "e2e-token" not in log_text
    state_text = (deployment.root / ".multicloud" / "state" / "local.json").read_text()
    assert key not in state_text and "e2e-token" not in state_text

    # unchanged inputs: no rebuild and no redeploy
    again, result2 = deployment.build_and_deploy()
    assert again.digest == build.digest and not result2.changed

    removed = provider.remove()
    assert set(removed.removed) == {"api", "admin", "worker", "broker (nats-server, its message store and credentials)"}
    assert not (deployment.root / ".multicloud" / "local" / "broker").exists()
    with pytest.raises(OSError):
        get(f"{url}/items/1", timeout=2)
    assert not provider.status().deployed
    with pytest.raises(OperationError):
        provider.invoke(InvokeRequest("api", path="/items/1"))


@pytest.mark.parametrize("client", ["new-connection", "keep-alive"])
def test_redeploy_swaps_without_dropping_requests(deployment: Deployment, client: str) -> None:
    _, first = deployment.build_and_deploy()
    url = first.details["url"]
    port = url.rsplit(":", 1)[1]
    errors: list[str] = []
    answers: list[tuple[float, str]] = []  # (when the request started, which version answered)
    stop = threading.Event()
    max_requests = 60000  # a bound, far above what the few seconds of this test produce

    def load() -> None:
        # new-connection: every request goes through the shared accept queue; keep-alive: one
        # http.client connection reused (it reconnects after a `Connection: close` answer, as clients do)
        conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
        while not stop.is_set() and len(answers) + len(errors) < max_requests:
            started = time.monotonic()
            try:
                if client == "new-connection":
                    version = get(f"{url}/items/1", timeout=10)[1]["version"]
                else:
                    conn.request("GET", "/items/1")
                    version = json.loads(conn.getresponse().read())["version"]
                answers.append((started, version))
            except Exception as exc:  # noqa: BLE001 - any failure is a dropped request
                errors.append(repr(exc))
                conn.close()
        conn.close()

    slow: list[object] = []
    workers = [threading.Thread(target=load) for _ in range(4)]
    for w in workers:
        w.start()
    time.sleep(0.5)
    in_flight = threading.Thread(target=lambda: slow.append(get(f"{url}/slow?s=1.5")))
    in_flight.start()
    time.sleep(0.2)
    deployment.write("2")
    _, second = deployment.build_and_deploy()
    swapped = time.monotonic()  # deploy returns once the old generation has drained and exited
    assert second.changed and second.details["url"] == url  # same port across redeploys
    time.sleep(0.8)
    stop.set()
    for w in workers:
        w.join(30)
    in_flight.join(30)
    assert errors == []
    versions = [v for _, v in answers]
    assert "1" in versions and "2" in versions
    assert {v for started, v in answers if started > swapped} == {"2"}
    status, body = slow[0]  # type: ignore[misc]
    assert status == 200 and body["version"] == "1"  # the old generation drained it
    assert deployment.provider.status().details["url"].endswith(port)
    assert len(answers) > 100


def test_failed_redeploy_keeps_the_previous_release_serving(deployment: Deployment) -> None:
    _, first = deployment.build_and_deploy()
    url = first.details["url"]
    deployment.write("broken", extra="\nraise RuntimeError('import-time failure')\n")
    with pytest.raises(OperationError) as info:
        deployment.build_and_deploy()
    assert "import-time failure" in info.value.what and "previous release keeps serving" in (info.value.fix or "")
    assert get(f"{url}/items/3")[1]["version"] == "1"
    status = deployment.provider.status()
    assert status.deployed and "import-time failure" in status.functions[0].detail
    deployment.write("3")
    _, third = deployment.build_and_deploy()
    assert get(f"{url}/items/3")[1]["version"] == "3" and third.details["url"] == url


def test_supervisor_restarts_a_crashed_server(deployment: Deployment) -> None:
    _, first = deployment.build_and_deploy()
    url = first.details["url"]
    pid = get(f"{url}/items/1")[1]["pid"]
    os.kill(pid, 9)
    deadline = time.monotonic() + 15
    new_pid = None
    while time.monotonic() < deadline:
        try:
            new_pid = get(f"{url}/items/1", timeout=2)[1]["pid"]
            if new_pid != pid:
                break
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.1)
    assert new_pid is not None and new_pid != pid
    deadline = time.monotonic() + 5  # the supervisor counts the restart right after the new server is ready
    while deployment.provider.status().details["restarts"] != "1" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert deployment.provider.status().details["restarts"] == "1"


def test_missing_env_secret_is_a_clear_error(deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHOP_E2E_TOKEN")
    with pytest.raises(OperationError) as info:
        deployment.build_and_deploy()
    assert "SHOP_E2E_TOKEN" in info.value.what and info.value.fix


def test_lost_supervisor_is_replaced_on_the_same_port(deployment: Deployment) -> None:
    import signal

    _, first = deployment.build_and_deploy()
    url = first.details["url"]
    old_server = get(f"{url}/items/1")[1]["pid"]
    supervisor = int(deployment.provider.status().details["supervisor_pid"])
    os.kill(supervisor, signal.SIGKILL)  # no goodbye: the orphaned server notices and drains away
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and Path(f"/proc/{old_server}").exists():
        time.sleep(0.1)
    assert not Path(f"/proc/{old_server}").exists()
    assert not deployment.provider.status().deployed
    _, again = deployment.build_and_deploy()
    assert again.changed and again.details["url"] == url
    assert get(f"{url}/items/2")[1]["pid"] != old_server


def test_logs_follow_sees_new_requests(deployment: Deployment) -> None:
    from datetime import datetime, timezone

    _, first = deployment.build_and_deploy()
    url = first.details["url"]
    since = datetime.now(timezone.utc)
    follow = deployment.provider.logs("api", since, True)
    seen: list[str] = []

    def read() -> None:
        for record in follow:
            seen.append(record.message)
            if "GET /items/{id} 200" in record.message:
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    get(f"{url}/items/followed")
    reader.join(timeout=30)  # a follow that never sees the line must fail the test, not hang it
    assert not reader.is_alive(), seen
    follow.close()
    assert any("GET /items/{id} 200" in m for m in seen) and not any("followed" in m for m in seen), seen


def test_changing_the_port_moves_the_service(deployment: Deployment) -> None:
    import socket

    _, first = deployment.build_and_deploy()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        wanted = s.getsockname()[1]
    spec = deployment.root / "multicloud.yaml"
    spec.write_text(spec.read_text() + f"targets:\n  local: {{port: {wanted}}}\n")
    _, moved = deployment.build_and_deploy()
    assert moved.details["url"] == f"http://127.0.0.1:{wanted}"
    assert get(f"{moved.details['url']}/items/5")[1]["id"] == "5"
    with pytest.raises(OSError):
        get(f"{first.details['url']}/items/5", timeout=2)


def test_rollback_returns_to_the_previous_release(deployment: Deployment) -> None:
    with pytest.raises(OperationError):
        deployment.provider.rollback()  # nothing deployed yet
    _, first = deployment.build_and_deploy()
    url = first.details["url"]
    with pytest.raises(OperationError) as info:
        deployment.provider.rollback()  # one release only
    assert "no previous" in info.value.what
    deployment.write("2")
    _, second = deployment.build_and_deploy()
    assert get(f"{url}/items/1")[1]["version"] == "2"
    back = deployment.provider.rollback()
    assert back.version == first.version and back.details["url"] == url
    assert get(f"{url}/items/1")[1]["version"] == "1"
    assert deployment.provider.status().functions[0].version == first.version
    forth = deployment.provider.rollback()  # the release we left is kept: rolling back again returns to it
    assert forth.version == second.version
    assert get(f"{url}/items/1")[1]["version"] == "2"
    releases = sorted(p.name for p in (deployment.root / ".multicloud" / "local" / "releases").iterdir())
    assert len(releases) == 2
