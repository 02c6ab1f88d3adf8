"""The docker target on an ordinary machine: a base image missing from the engine is pulled (with
progress), and only a failed pull points to `multicloud docker base-image`.

A real registry (Debian's `docker-registry`, Distribution 2.8, installed by .ci/run) runs on 127.0.0.1,
which the engine treats as an insecure registry by default. It holds a base image derived from the
air-gapped one (a fresh layer, so the pull really downloads), pushed under the name the test configures;
the product's default stays `python:X.Y-slim`, which an ordinary machine pulls from Docker Hub.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.fail("docker-registry is not installed (Debian package docker-registry; .ci/run installs it)")
    root = tmp_path_factory.mktemp("registry")
    port = free_port()
    config = root / "config.yml"
    config.write_text(f"version: 0.1\nlog: {{level: warn}}\nstorage:\n"
                      f"  filesystem: {{rootdirectory: {root / 'data'}}}\n"
                      f"  delete: {{enabled: true}}\nhttp:\n  addr: 127.0.0.1:{port}\n")
    proc = subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("the local registry did not start")
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def kit(docker_kit: Any) -> Any:
    return docker_kit


@pytest.fixture(scope="module")
def pushed_base(engine: Any, registry: str, kit: Any) -> str:
    """A python:3.11-slim stand-in in the registry and *not* on the engine: its top layer is new."""
    ref = f"{registry}/mc-test/python:3.11-slim-{kit.SESSION}"
    dockerfile = f"FROM {kit.BASE_IMAGE}\nRUN echo {kit.SESSION} > /pulled-from-registry\n"
    image, _ = engine.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=ref, rm=True,
                                   labels={kit.TEST_LABEL: kit.SESSION})
    for line in engine.images.push(ref.rsplit(":", 1)[0], tag=ref.rsplit(":", 1)[1], stream=True, decode=True):
        assert "error" not in line, line
    engine.images.remove(image.id, force=True)
    return ref


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CI": "true"}
    return subprocess.run([sys.executable, "-m", "multicloud", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=600)


def scaffold(tmp_path: Path, name: str, base: str, kit: Any) -> Path:
    dest = tmp_path / name
    proc = cli("init", name, "--dir", str(dest), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    spec = dest / "multicloud.yaml"
    # the gateway's HAProxy: the air-gapped one (the test registry has no haproxy:2.6, the default next to a
    # registry's base image)
    settings = (f"{{base_image: \"{base}\", proxy_image: \"{kit.PROXY_IMAGE}\", "
                f"labels: {{{kit.TEST_LABEL}: \"{kit.SESSION}\"}}}}")
    spec.write_text(spec.read_text() + f"  docker: {settings}\n")
    return dest


def test_scaffold_builds_on_docker_pulling_the_missing_base_image(engine: Any, pushed_base: str, kit: Any,
                                                                  tmp_path: Path) -> None:
    from docker.errors import ImageNotFound

    with pytest.raises(ImageNotFound):
        engine.images.get(pushed_base)
    demo = scaffold(tmp_path, f"t{kit.SESSION}-pull", pushed_base, kit)
    proc = cli("build", str(demo), "--target", "docker", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{pushed_base} is not on the engine: pulling it" in proc.stderr
    assert f"pulled {pushed_base}" in proc.stderr
    pulled = engine.images.get(pushed_base)
    out = engine.containers.run(pulled.id, ["cat", "/pulled-from-registry"], remove=True,
                                labels={kit.TEST_LABEL: kit.SESSION})
    assert out.decode().strip() == kit.SESSION
    again = cli("build", str(demo), "--target", "docker", cwd=tmp_path)  # present now: no second pull
    assert again.returncode == 0 and "pulling" not in again.stderr, again.stderr


@pytest.mark.parametrize("where", ["unknown image", "registry down"])
def test_a_failed_pull_points_to_the_air_gapped_image_and_deploys_nothing(engine: Any, registry: str, where: str,
                                                                          kit: Any, tmp_path: Path) -> None:
    ref = (f"{registry}/mc-test/no-such-image:{kit.SESSION}" if where == "unknown image"
           else f"127.0.0.1:{free_port()}/mc-test/python:3.11-slim")
    name = f"t{kit.SESSION}-nopull-{'a' if where == 'unknown image' else 'b'}"
    demo = scaffold(tmp_path, name, ref, kit)
    started = time.monotonic()
    proc = cli("deploy", str(demo), "--target", "docker", cwd=tmp_path)
    elapsed = time.monotonic() - started
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert f"{ref} is not on the engine and pulling it failed" in out, out
    assert "multicloud docker base-image" in out and "Traceback" not in out
    assert elapsed < 60, elapsed
    leftovers = engine.containers.list(all=True, filters={"label": f"io.multicloud.service={name}"})
    assert leftovers == [], [c.name for c in leftovers]  # the lock was released, nothing started


def test_the_gateway_proxy_image_is_pulled_by_the_same_helper(engine: Any, registry: str, kit: Any,
                                                              tmp_path: Path) -> None:
    """`proxy_image` from a registry: missing on the engine, pulled with progress (images.ensure_image, the
    helper the base and broker images use), and the gateway is built from it."""
    ref = f"{registry}/mc-test/haproxy:2.6-{kit.SESSION}"
    dockerfile = f"FROM {kit.PROXY_IMAGE}\nRUN echo {kit.SESSION} > /pulled-from-registry\n"
    image, _ = engine.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=ref, rm=True,
                                   labels={kit.TEST_LABEL: kit.SESSION})
    for line in engine.images.push(ref.rsplit(":", 1)[0], tag=ref.rsplit(":", 1)[1], stream=True, decode=True):
        assert "error" not in line, line
    engine.images.remove(image.id, force=True)
    demo = scaffold(tmp_path, f"t{kit.SESSION}-pullproxy", kit.BASE_IMAGE, kit)
    spec = demo / "multicloud.yaml"
    spec.write_text(spec.read_text().replace(f"proxy_image: \"{kit.PROXY_IMAGE}\"", f"proxy_image: \"{ref}\""))
    try:
        proc = cli("build", str(demo), "--target", "docker", cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert f"{ref} is not on the engine: pulling it" in proc.stderr and f"pulled {ref}" in proc.stderr
        assert "building gateway image" in proc.stderr and f"from {ref}" in proc.stderr
    finally:
        engine.images.remove(ref, force=True)


def test_a_failed_broker_image_pull_points_to_broker_image(engine: Any, kit: Any, tmp_path: Path) -> None:
    """A queue function with an unreachable `broker_image`: the same error as for the base image, naming
    `multicloud docker broker-image`, and nothing is deployed."""
    name = f"t{kit.SESSION}-nopull-broker"
    demo = scaffold(tmp_path, name, kit.BASE_IMAGE, kit)
    spec = demo / "multicloud.yaml"
    ref = f"127.0.0.1:{free_port()}/mc-test/nats:2.10"
    text = spec.read_text().replace("{base_image:", f"{{broker_image: \"{ref}\", base_image:")
    text = text.replace("functions:\n", "functions:\n  worker:\n    handler: handler.hello\n    triggers:\n"
                        "      - queue: {name: jobs}\n", 1)
    spec.write_text(text)
    proc = cli("deploy", str(demo), "--target", "docker", cwd=tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert f"{ref} is not on the engine and pulling it failed" in out and "Traceback" not in out, out
    assert "multicloud docker broker-image" in out and "targets.docker.broker_image" in out, out
    leftovers = engine.containers.list(all=True, filters={"label": f"io.multicloud.service={name}"})
    assert leftovers == [], [c.name for c in leftovers]
