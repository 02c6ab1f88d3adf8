"""The vendored runtime on a bare interpreter: the air-gapped base image (Debian's python3, no pip, no
site-packages), read-only code, no network, an unprivileged user and only a tmpfs /tmp, the way a
function runs. The AWS shim handles aws-sam-cli's sample events there exactly as in the venv."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

IMAGE = "multicloud/python:3.11-bookworm"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
EVENTS = Path(__file__).resolve().parents[2] / "events" / "aws"

SCRIPT = r"""
import json, os, sys, time
t = time.perf_counter()
from multicloud.runtime.aws import entry
import_ms = (time.perf_counter() - t) * 1000
lam = entry("portable_handler.handler", "orders")
out = {"import_ms": import_ms, "python": sys.version.split()[0],
       "site_packages": [p for p in sys.path if "-packages" in p and os.path.isdir(p) and os.listdir(p)]}
def load(name):
    with open("/events/" + name) as fh:
        return json.load(fh)
v2 = load("apigw-http-api-v2.json")
out["http"] = lam(v2, None)
scratch = dict(v2, rawPath="/scratch")
scratch["requestContext"] = dict(v2["requestContext"], http=dict(v2["requestContext"]["http"], path="/scratch"))
out["scratch"] = lam(scratch, None)
boom = dict(v2, rawPath="/boom")
out["boom"] = lam(boom, None)
out["sqs"] = lam(load("sqs-batch.json"), None)
out["kinesis"] = lam(load("kinesis-batch.json"), None)
out["s3"] = lam(load("s3-put.json"), None)
import portable_handler
out["seen"] = portable_handler.SEEN
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def docker_client():
    import docker

    client = docker.from_env()  # honours DOCKER_HOST
    try:
        client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"{IMAGE} is not built yet (multicloud docker base-image)")
    yield client
    client.close()


@pytest.mark.docker
@pytest.mark.slow
def test_aws_shim_runs_on_the_bare_base_image(docker_client, tmp_path) -> None:
    from multicloud.vendor import runtime_files

    task = tmp_path / "task"
    for arc, src in runtime_files().items():
        dest = task / arc
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(src.read_bytes())
    shutil.copy(FIXTURES / "portable_handler.py", task / "portable_handler.py")
    for path in [task, *task.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    tmp_path.chmod(0o755)

    raw = docker_client.containers.run(
        IMAGE, ["python3", "-c", SCRIPT], working_dir="/var/task", remove=True,
        volumes={str(task): {"bind": "/var/task", "mode": "ro"}, str(EVENTS): {"bind": "/events", "mode": "ro"}},
        environment={"PYTHONPATH": "/var/task", "PYTHONDONTWRITEBYTECODE": "1"},
        network_disabled=True, read_only=True, tmpfs={"/tmp": "size=16m"}, user="65534:65534",
        cap_drop=["ALL"], labels={"multicloud.test": "runtime-container"}, mem_limit="128m",
    )
    out = json.loads(raw.decode().strip().splitlines()[-1])
    assert out["python"].startswith("3.11") and out["site_packages"] == []

    http = out["http"]
    assert http["statusCode"] == 200
    assert json.loads(http["body"])["query"] == {"parameter1": ["value1", "value2"], "parameter2": ["value"]}
    scratch = json.loads(out["scratch"]["body"])
    assert scratch["exists"] is True and scratch["scratch"].startswith("/tmp/multicloud-scratch/")
    assert out["boom"]["statusCode"] == 500 and "hunter2" not in out["boom"]["body"]
    sqs_ids = [r["messageId"] for r in json.loads((EVENTS / "sqs-batch.json").read_text())["Records"]]
    assert out["sqs"] == {"batchItemFailures": [{"itemIdentifier": sqs_ids[1]}]}
    assert len(out["kinesis"]["batchItemFailures"]) == 1
    assert out["s3"] is None
    assert [s["kind"] for s in out["seen"]] == ["queue"] * 3 + ["stream"] * 3 + ["storage"]
    assert out["seen"][-1]["key"] == "photos/my summer/holiday été+1.jpg"
