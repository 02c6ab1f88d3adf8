"""Deploy to a real Docker Engine: hardening, no-op redeploys, failed health checks, secrets, HTTP errors."""

from __future__ import annotations

import http.client
import json
import subprocess
from typing import Any
from urllib.parse import urlsplit

import pytest
from docker_loadgen import raw_exchange

from multicloud.errors import OperationError
from multicloud.provider import InvokeRequest

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def get(url: str, path: str, method: str = "GET", body: bytes | None = None,
        headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=20)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def live_container(engine: Any, d: Any) -> Any:
    return d.provider.mode().live()


def test_deploy_is_hardened_and_answers(engine: Any, deployed: Any) -> None:
    d = deployed("hard")
    result = d.deploy()
    assert result.changed
    assert urlsplit(d.url).hostname == "127.0.0.1"
    status, body = get(d.url, "/hello")
    assert status == 200 and json.loads(body)["version"] == "v1"
    assert json.loads(body)["target"] == "docker"
    c = live_container(engine, d)
    host = c.attrs["HostConfig"]
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"]
    assert "no-new-privileges:true" in host["SecurityOpt"]
    assert host["PidsLimit"] == 256 and host["Memory"] == 64 * 2**20 and host["NanoCpus"] == 10**9
    assert host["RestartPolicy"]["Name"] == "on-failure"
    assert "/tmp" in host["Tmpfs"] and host["PortBindings"] in (None, {})  # only the gateway publishes
    assert c.attrs["Config"]["User"] == "65534:65534"
    assert "python3" in " ".join(c.attrs["Config"]["Healthcheck"]["Test"])
    assert c.labels["io.multicloud.managed"] == "true" and c.labels["io.multicloud.service"] == d.provider.project.name
    gateway = d.provider.mode().gateway()
    # on this Linux engine the gateway binds 127.0.0.1:port itself on the host network (gateway_network: auto;
    # the published-port fallback is in test_docker_gateway_network.py)
    assert gateway.attrs["HostConfig"]["NetworkMode"] == "host"
    assert f"MULTICLOUD_GATEWAY_BIND=127.0.0.1:{urlsplit(d.url).port}" in gateway.attrs["Config"]["Env"]
    assert gateway.attrs["HostConfig"]["CapDrop"] == ["ALL"]
    assert gateway.attrs["HostConfig"]["ReadonlyRootfs"] is True
    # invoke and status go through the same engine
    inv = d.provider.invoke(InvokeRequest("hello", path="/hello"))
    assert inv.ok and inv.status == 200
    report = d.provider.status()
    assert report.deployed and report.functions[0].state == "running"


def test_read_only_root_and_scratch(engine: Any, deployed: Any) -> None:
    d = deployed("ro", extra_functions="""
writer:
  handler: app.write
  memory: 64
  triggers:
    - http: {path: /write, methods: [GET]}
""")
    d.deploy()
    status, body = get(d.url, "/write?path=/opt/multicloud/app/evil.py")
    assert status == 200
    data = json.loads(body)
    assert data["ok"] is False and data["errno"] == 30  # EROFS: read-only file system
    status, body = get(d.url, "/write?path=/etc/passwd")
    assert json.loads(body)["ok"] is False
    status, body = get(d.url, "/write?path=/tmp/scratch.txt")
    assert json.loads(body) == {"ok": True}


def test_unchanged_digest_is_a_noop_and_endpoint_is_stable(engine: Any, deployed: Any) -> None:
    d = deployed("noop")
    first = d.deploy()
    c1 = live_container(engine, d)
    plan = d.provider.plan(d.build())
    assert not plan.has_changes
    second = d.deploy()
    assert not second.changed and second.version == first.version
    assert live_container(engine, d).id == c1.id
    # a real change: new container, same endpoint, old one gone
    (d.spec.parent / "multicloud.yaml").write_text(d.spec.read_text().replace('VERSION: "v1"', 'VERSION: "v2"'))
    d.reload()
    third = d.deploy()
    assert third.changed and third.version != first.version
    assert third.details["url"] == first.details["url"]
    assert json.loads(get(d.url, "/hello")[1])["version"] == "v2"
    names = [c.name for c in d.provider.mode().function_containers()]
    assert names == [live_container(engine, d).name]
    # rollback returns to v1 by the same blue/green path
    back = d.provider.rollback()
    assert back.version == first.version
    assert json.loads(get(d.url, "/hello")[1])["version"] == "v1"


def test_failed_health_check_keeps_old_version(engine: Any, deployed: Any) -> None:
    d = deployed("unhealthy")
    d.deploy()
    before = live_container(engine, d).id
    broken = d.spec.parent / "app.py"
    broken.write_text(broken.read_text() + "\nraise RuntimeError('broken at import')\n")
    d.reload()
    with pytest.raises(OperationError) as info:
        d.deploy()
    assert info.value.exit_code == 1
    assert "previous version keeps serving" in info.value.what
    assert live_container(engine, d).id == before
    status, body = get(d.url, "/hello")
    assert status == 200 and json.loads(body)["version"] == "v1"
    assert len(d.provider.mode().function_containers()) == 1  # the failed one was removed


def test_secrets_reach_the_function_but_not_image_env_or_state(engine: Any, deployed: Any,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "s3cr3t-" + "q" * 20
    monkeypatch.setenv("MC_TEST_API_KEY", secret)
    monkeypatch.setenv("MC_TEST_AUTH_KEY", "k-" + "z" * 30)
    d = deployed("secret", extra_functions="""
private:
  handler: app.private
  memory: 64
  secrets:
    API_KEY: env:MC_TEST_API_KEY
  triggers:
    - http: {path: /private, methods: [GET], auth: key}
""", docker="auth_key: env:MC_TEST_AUTH_KEY")
    d.deploy()
    assert json.loads(get(d.url, "/hello")[1])["secret_len"] == len(secret)
    assert get(d.url, "/private")[0] == 401
    assert get(d.url, "/private", headers={"X-Multicloud-Key": "wrong"})[0] == 401
    assert get(d.url, "/private", headers={"X-Multicloud-Key": "k-" + "z" * 30})[0] == 200
    c = live_container(engine, d)
    inspect = subprocess.run(["docker", "inspect", c.id], capture_output=True, text=True, check=True).stdout
    assert secret not in inspect and "z" * 30 not in inspect
    image = subprocess.run(["docker", "image", "inspect", c.image.id], capture_output=True, text=True,
                           check=True).stdout
    history = subprocess.run(["docker", "history", "--no-trunc", c.image.id], capture_output=True, text=True,
                             check=True).stdout
    assert secret not in image and secret not in history
    build_dir = d.spec.parent / ".multicloud"
    for path in build_dir.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    # the container sees a root-owned, read-only file, not an env var
    code, out = c.exec_run(["python3", "-c", "import os; print('API_KEY' in os.environ)"])
    assert out.decode().strip() == "False"  # only the server process resolves it at start


def test_http_errors_and_server_keeps_serving(engine: Any, deployed: Any) -> None:
    d = deployed("errors", docker="max_body_mb: 0.01")
    d.deploy()
    parts = urlsplit(d.url)
    assert get(d.url, "/hello", "POST", body=b"x" * 20_000)[0] == 413
    status, _ = get(d.url, "/slow?s=4")
    assert status == 504
    answer = raw_exchange(parts.hostname or "", parts.port or 0, b"NOT HTTP AT ALL\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")
    answer = raw_exchange(parts.hostname or "", parts.port or 0,
                          b"GET /hello HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")
    chunked = (b"POST /hello HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               + b"4000\r\n" + b"y" * 0x4000 + b"\r\n0\r\n\r\n")
    assert raw_exchange(parts.hostname or "", parts.port or 0, chunked).startswith(b"HTTP/1.1 413 ")
    for _ in range(5):
        status, body = get(d.url, "/hello")
        assert status == 200 and json.loads(body)["version"] == "v1"


def test_missing_secret_fails_before_anything_changes(engine: Any, deployed: Any,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MC_TEST_MISSING", raising=False)
    d = deployed("nosecret", extra_functions="""
needy:
  handler: app.private
  memory: 64
  secrets:
    TOKEN: env:MC_TEST_MISSING
  triggers:
    - http: {path: /needy, methods: [GET]}
""")
    with pytest.raises(OperationError) as info:
        d.deploy()
    assert "MC_TEST_MISSING" in info.value.what and info.value.exit_code == 1
    assert engine.containers.list(all=True, filters={"label": f"io.multicloud.service={d.provider.project.name}"}) == []


def test_changed_run_settings_are_a_redeploy(engine: Any, deployed: Any) -> None:
    d = deployed("settings")
    first = d.deploy()
    text = d.spec.read_text()
    d.spec.write_text(text.replace("    labels: {", "    cpus: 0.5\n    scratch_mb: 16\n    labels: {", 1))
    d.reload()
    plan = d.provider.plan(d.build())
    release = next(s for s in plan.steps if s.kind == "function container" and s.action == "create")
    assert plan.has_changes and "settings" in release.detail
    second = d.deploy()
    assert second.changed and second.version == first.version and second.details["url"] == first.details["url"]
    host = live_container(engine, d).attrs["HostConfig"]
    assert host["NanoCpus"] == 5 * 10**8 and "size=16m" in host["Tmpfs"]["/tmp"]
    assert not d.deploy().changed


def test_one_deploy_at_a_time(engine: Any, deployed: Any) -> None:
    """The provider's lock hooks: a created, never started container named per service, holder in a label;
    only its holder releases it, and the deploy inside the orchestrated lock does not lock itself out."""
    from multicloud.errors import LockedError
    from multicloud.locking import new_owner, target_lock

    d = deployed("lock")
    d.deploy()
    name = d.provider.project.name
    holder = new_owner("deploy")
    assert d.provider.acquire_lock(holder) is None
    lock = engine.containers.get(f"mc-{name}-deploy-lock")
    assert lock.status == "created" and lock.labels["io.multicloud.role"] == "lock"
    assert lock.labels["io.multicloud.test"]  # carries the spec's labels: the session teardown finds it
    (d.spec.parent / "multicloud.yaml").write_text(d.spec.read_text().replace('VERSION: "v1"', 'VERSION: "v2"'))
    d.reload()
    with pytest.raises(LockedError) as info, target_lock(d.provider, "deploy"):
        pytest.fail("a second lock holder got in")
    assert holder.owner in info.value.message and "multicloud unlock" in info.value.fix
    assert info.value.exit_code == 1
    d.provider.release_lock(new_owner("deploy"))  # not the holder: no effect
    assert engine.containers.list(all=True, filters={"name": f"mc-{name}-deploy-lock"}) != []
    d.provider.release_lock(holder)
    with target_lock(d.provider, "deploy"):
        assert d.deploy().changed  # deploy itself takes no second lock
    assert engine.containers.list(all=True, filters={"name": f"mc-{name}-deploy-lock"}) == []
