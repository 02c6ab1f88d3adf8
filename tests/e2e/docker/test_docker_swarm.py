"""Swarm mode on a real single-node swarm: replicas, a rolling update under load without a failed request,
rolling update and rollback config, limits, secrets,
a failed update rolled back by Swarm while the old version keeps serving. The swarm comes from conftest's
`swarm` fixture (initialised for the module when the engine is not in one, left again after).
"""

from __future__ import annotations

import http.client
import json
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from docker_loadgen import Load

from multicloud.errors import OperationError

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def get(url: str, path: str) -> tuple[int, bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection("127.0.0.1", parts.port or 0, timeout=20)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def wait_answer(url: str, path: str, timeout: float = 30) -> tuple[int, bytes]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            status, body = get(url, path)
            if status == 200:
                return status, body
        except OSError:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            return status, body
        time.sleep(0.3)


def test_swarm_service_rolls_and_rolls_back(swarm: Any, deployed: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MC_SWARM_SECRET", "swarm-" + "w" * 24)
    d = deployed("swarm", docker="mode: swarm\nreplicas: 2\npids_limit: 128", extra_functions="""
private:
  handler: app.private
  memory: 64
  secrets:
    API_KEY: env:MC_SWARM_SECRET
  triggers:
    - http: {path: /private, methods: [GET]}
""")
    first = d.deploy()
    assert first.changed
    status, body = wait_answer(d.url, "/hello")
    assert status == 200 and json.loads(body) == {"version": "v1", "target": "docker", "secret_len": 30}
    svc = d.provider.mode().service(f"mc-{d.provider.project.name}")
    spec = svc.attrs["Spec"]
    assert spec["Mode"]["Replicated"]["Replicas"] == 2
    assert spec["UpdateConfig"]["FailureAction"] == "rollback" and spec["UpdateConfig"]["Order"] == "start-first"
    assert spec["RollbackConfig"]["Parallelism"] == 1
    limits = spec["TaskTemplate"]["Resources"]["Limits"]
    assert limits["MemoryBytes"] == 64 * 2**20 and limits["NanoCPUs"] == 10**9 and limits["Pids"] == 128
    cs = spec["TaskTemplate"]["ContainerSpec"]
    assert cs["ReadOnly"] is True and cs["User"] == "65534:65534" and cs["CapabilityDrop"] == ["ALL"]
    assert spec["TaskTemplate"]["RestartPolicy"]["Condition"] == "on-failure"
    assert "w" * 24 not in json.dumps(svc.attrs)
    gateway = d.provider.mode().service(f"mc-{d.provider.project.name}-gateway")
    assert gateway.attrs["Spec"]["EndpointSpec"]["Ports"][0]["PublishMode"] == "host"
    running = [t for t in svc.tasks(filters={"desired-state": "running"}) if t["Status"]["State"] == "running"]
    assert len(running) == 2
    # unchanged: no-op
    assert not d.deploy().changed
    # rolling update to v2 keeps the endpoint
    d.spec.write_text(d.spec.read_text().replace('VERSION: "v1"', 'VERSION: "v2"'))
    d.reload()
    with Load(f"http://127.0.0.1:{urlsplit(d.url).port}", "/hello", workers=4, max_seconds=120) as load:
        time.sleep(0.5)
        second = d.deploy()
        time.sleep(0.5)
    versions = {json.loads(o.body)["version"] for o in load.outcomes if o.ok}
    print(f"\nswarm rolling update: {len(load.outcomes)} requests, {len(load.failures)} failed")
    assert load.failures == [] and versions == {"v1", "v2"}
    assert second.changed and second.details["url"] == first.details["url"]
    assert json.loads(wait_answer(d.url, "/hello")[1])["version"] == "v2"
    report = d.provider.status()
    assert report.details["replicas"] == "2/2" and report.functions[0].state == "running"
    # a broken version: Swarm's health-gated update fails and rolls back; v2 keeps serving
    app = d.spec.parent / "app.py"
    app.write_text(app.read_text() + "\nraise RuntimeError('broken at import')\n")
    d.reload()
    with pytest.raises(OperationError) as info:
        d.deploy()
    assert "rolled back" in info.value.what
    for _ in range(10):
        status, body = get(d.url, "/hello")
        assert status == 200 and json.loads(body)["version"] == "v2"
