"""multicloud.private_runtime: runtime.json from a real spec, the staged layout, and that it really serves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from multicloud.errors import SpecError, UnsupportedError
from multicloud.private_runtime import BrokerAccess, runtime_config, stage_artifact
from multicloud.project import Project

SPEC = """\
service: shop
functions:
  api:
    handler: app.main
    timeout: 7
    memory: 512
    env: {GREETING: hi}
    secrets:
      TOKEN: {local: "env:SHOP_TOKEN", aws: "ssm:/shop/token"}
    triggers:
      - http: {path: "/orders/{id}", methods: [GET]}
      - http: {path: /admin, methods: [POST], auth: key}
  worker:
    handler: app.work
    triggers:
      - schedule: {rate: 5m}
      - schedule: {cron: "0 * * * *"}
      - queue: {name: orders}
targets:
  local: {concurrency: 4, max_body_mb: 1}
"""
APP = """\
import os
def main(event, context):
    return {"id": event.http.path_params.get("id"), "greeting": os.environ.get("GREETING"),
            "token_ok": os.environ.get("TOKEN") == "t0k"}
def work(event, context):
    return None
"""


BROKER = BrokerAccess(("nats://127.0.0.1:4222",), "file:/run/broker-password")
NO_QUEUE = SPEC.replace("      - queue: {name: orders}\n", "")


def make_project(root: Path, spec: str = SPEC) -> Project:
    root.mkdir(parents=True, exist_ok=True)
    (root / "multicloud.yaml").write_text(spec)
    (root / "app.py").write_text(APP)
    return Project.load(root)


def test_runtime_config_from_spec(tmp_path: Path) -> None:
    cfg = runtime_config(make_project(tmp_path), "local", broker=BROKER)
    api, worker = cfg["functions"]["api"], cfg["functions"]["worker"]
    assert api["handler"] == "app.main" and api["timeout"] == 7 and api["memory"] == 512
    assert api["http"] == [{"path": "/orders/{id}", "methods": ["GET"], "auth": "none"},
                           {"path": "/admin", "methods": ["POST"], "auth": "key"}]
    assert api["secrets"] == {"TOKEN": "env:SHOP_TOKEN"}  # the local reference, never a value
    assert worker["schedules"] == [{"rate_seconds": 300, "expression": "5m"},
                                   {"cron": "0 * * * *", "expression": "0 * * * *"}]
    assert worker["events"][0]["kind"] == "queue"
    assert cfg["auth"] == {"key": "env:MULTICLOUD_AUTH_KEY"}
    assert cfg["limits"] == {"concurrency": 4, "max_body_bytes": 1024 * 1024}
    assert runtime_config(make_project(tmp_path), "local", auth_key_ref="file:/k",
                          broker=BROKER)["auth"] == {"key": "file:/k"}
    # the queue is consumed from the broker: where it is, a reference to the password, what to read
    broker = cfg["broker"]
    assert broker["servers"] == ["nats://127.0.0.1:4222"] and broker["password"] == "file:/run/broker-password"
    assert broker["subscriptions"] == [{
        "function": "worker", "kind": "queue", "name": "orders", "stream": "mc-shop-queue-orders",
        "consumer": "fn-worker", "batch_size": 10, "max_attempts": 5, "ordered": False,
        "dead_letter_subject": "mc.shop.dead.orders", "events": [], "prefix": "", "suffix": ""}]
    assert "broker" not in runtime_config(make_project(tmp_path, NO_QUEUE), "local")


def test_queue_functions_need_a_broker(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedError):
        runtime_config(make_project(tmp_path), "local")


def test_conflicting_env_between_functions_is_refused(tmp_path: Path) -> None:
    worker = "  worker:\n    handler: app.work\n"
    spec = SPEC.replace(worker, worker + "    env: {GREETING: yo}\n")
    with pytest.raises(UnsupportedError) as info:
        runtime_config(make_project(tmp_path, spec), "local", broker=BROKER)
    assert "GREETING" in info.value.what and info.value.fix


def test_cloud_only_secret_reference_is_a_spec_error(tmp_path: Path) -> None:
    spec = SPEC.replace('{local: "env:SHOP_TOKEN", aws: "ssm:/shop/token"}', '"ssm:/shop/token"')
    with pytest.raises(SpecError) as info:
        runtime_config(make_project(tmp_path, spec), "local", broker=BROKER)
    assert "ssm:" in info.value.what and "TOKEN" in str(info.value.where)


def test_stage_layout_no_rebuild_and_rebuild_on_change(tmp_path: Path) -> None:
    project = make_project(tmp_path / "svc")
    out = tmp_path / "stage"
    messages: list[str] = []
    first = stage_artifact(project, "local", out, messages.append, broker=BROKER)
    assert first.rebuilt and (out / "app" / "app.py").is_file()
    assert (out / "app" / "multicloud" / "runtime" / "server.py").is_file()
    assert not (out / "app" / "multicloud.yaml").exists()
    assert json.loads((out / "runtime.json").read_text())["service"] == "shop"
    mtime = (out / "app" / "app.py").stat().st_mtime_ns
    second = stage_artifact(project, "local", out, messages.append, broker=BROKER)
    assert not second.rebuilt and second.digest == first.digest
    assert (out / "app" / "app.py").stat().st_mtime_ns == mtime
    assert any("unchanged" in m for m in messages)
    (tmp_path / "svc" / "app.py").write_text(APP + "\n# changed\n")
    third = stage_artifact(project, "local", out, broker=BROKER)
    assert third.rebuilt and third.digest != first.digest
    assert (out / "app" / "app.py").read_text().endswith("# changed\n")
    # a queue function's runtime carries the broker client from this host (no network at build time)
    assert (out / "deps" / "nats" / "js" / "client.py").is_file()
    assert not stage_artifact(make_project(tmp_path / "web", NO_QUEUE), "local", tmp_path / "web-stage").deps_dir \
        .joinpath("nats").exists()


def test_staged_artifact_serves_with_its_vendored_runtime(tmp_path: Path) -> None:
    project = make_project(tmp_path / "svc", NO_QUEUE)
    staged = stage_artifact(project, "local", tmp_path / "stage")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(SHOP_TOKEN="t0k", MULTICLOUD_AUTH_KEY="adminkey")
    log = tmp_path / "log"
    with log.open("wb") as fh:
        proc = subprocess.Popen([*staged.command(sys.executable), "--port", "0"], cwd=staged.app_dir,
                                stdout=fh, stderr=subprocess.STDOUT, env=env)
    try:
        port = None
        for _ in range(400):
            for line in log.read_text().splitlines():
                if '"listening"' in line:
                    port = int(json.loads(line)["address"].rsplit(":", 1)[1])
            if port or proc.poll() is not None:
                break
            time.sleep(0.025)
        assert port, log.read_text()
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/orders/42", timeout=5) as resp:
            assert json.loads(resp.read()) == {"id": "42", "greeting": "hi", "token_ok": True}
        # the code that runs is the staged copy, not the checkout
        probe = subprocess.run([sys.executable, "-c", "import multicloud.runtime.server as s; print(s.__file__)"],
                               cwd=staged.app_dir, capture_output=True, text=True, env=env)
        assert probe.stdout.strip().startswith(str(staged.app_dir))
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
    assert "adminkey" not in log.read_text() and "t0k" not in log.read_text()
    assert "adminkey" not in (tmp_path / "stage" / "runtime.json").read_text()


def test_docker_limits_come_from_the_spec(tmp_path: Path) -> None:
    spec = SPEC.replace("targets:\n", "targets:\n  docker: {pids_limit: 100, concurrency: 8}\n")
    cfg = runtime_config(make_project(tmp_path, spec), "docker", auth_key_ref="file:/run/secrets/key", broker=BROKER)
    # connections cost no thread any more (event loop): only the worker threads count against pids_limit
    assert cfg["limits"] == {"concurrency": 8, "max_body_bytes": 6 * 1024 * 1024}
    assert cfg["auth"] == {"key": "file:/run/secrets/key"}


def _tiny_wheel(folder: Path) -> Path:
    """A real (hand-made) wheel, so pip --target can install it with no index reachable."""
    import base64
    import hashlib
    import zipfile

    files = {
        "tinydep/__init__.py": b"ANSWER = 42\n",
        "tinydep-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: tinydep\nVersion: 1.0\n",
        "tinydep-1.0.dist-info/WHEEL": (b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                        b"Tag: py3-none-any\n"),
    }
    record = ""
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record += f"{name},sha256={digest},{len(data)}\n"
    record += "tinydep-1.0.dist-info/RECORD,,\n"
    wheel = folder / "tinydep-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        zf.writestr("tinydep-1.0.dist-info/RECORD", record)
    return wheel


def test_dependencies_are_installed_into_deps_and_importable(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel = _tiny_wheel(wheels)
    root = tmp_path / "svc"
    root.mkdir()
    (root / "requirements.txt").write_text(f"tinydep @ {wheel.as_uri()}\n")
    make_project(root, NO_QUEUE.replace("service: shop\n", "service: shop\nrequirements: requirements.txt\n"))
    (root / "app.py").write_text(APP + "\nimport tinydep\nANSWER = tinydep.ANSWER\n")
    project = Project.load(root)
    staged = stage_artifact(project, "local", tmp_path / "stage")
    assert (staged.deps_dir / "tinydep" / "__init__.py").read_text() == "ANSWER = 42\n"
    probe = subprocess.run(
        [sys.executable, "-c", "import sys; sys.path[:0] = ['.', '../deps']; import app; print(app.ANSWER)"],
        cwd=staged.app_dir, capture_output=True, text=True)
    assert probe.stdout.strip() == "42", probe.stderr
    # requirements unchanged: no second pip run (the folder is reused as is)
    again = stage_artifact(project, "local", tmp_path / "stage")
    assert not again.rebuilt
