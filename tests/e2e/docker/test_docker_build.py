"""Build side of the docker target on a real engine: deterministic context and digest, host-installed
dependencies, the air-gapped base image, and DOCKER_HOST honoured (a real TCP endpoint in front of the
engine's socket)."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import socket
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from multicloud.errors import OperationError, UnsupportedError
from multicloud.project import Project
from multicloud.providers.docker import DockerProvider
from multicloud.providers.docker.base_image import default_tag, suite_for

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_base_image_versions_are_honest() -> None:
    assert suite_for("3.11") == "bookworm" and suite_for("python3.11") == "bookworm"
    assert default_tag("3.11") == "multicloud/python:3.11-bookworm"
    with pytest.raises(UnsupportedError) as info:
        suite_for("3.12")
    assert info.value.exit_code == 3 and "3.11 (bookworm)" in info.value.what


def test_base_image_is_python_without_pip(engine: Any, base_image: str) -> None:
    out = engine.containers.run(base_image, ["python3", "-c", "import sys, importlib.util; "
                                "print(sys.version_info[:2], importlib.util.find_spec('pip') is None)"],
                                remove=True, network_disabled=True, labels={"io.multicloud.test": "base"})
    assert out.decode().strip() == "(3, 11) True"


def test_same_inputs_same_context_and_digest(engine: Any, tmp_path: Path, new_project: Any) -> None:
    spec = new_project("det")
    copy = tmp_path / "b"
    shutil.copytree(spec.parent, copy)
    first = DockerProvider(Project.load(spec)).build(spec.parent / ".multicloud" / "build" / "docker")
    again = DockerProvider(Project.load(copy / "multicloud.yaml")).build(copy / ".multicloud" / "build" / "docker")
    tar_a = first.artifacts[0].path.read_bytes()
    tar_b = again.artifacts[0].path.read_bytes()
    assert hashlib.sha256(tar_a).digest() == hashlib.sha256(tar_b).digest()
    assert first.digest == again.digest
    images = json.loads((copy / ".multicloud" / "build" / "docker" / "docker-images.json").read_text())
    assert images["reused"] is True  # found on the engine by digest: not rebuilt
    image = engine.images.get(images["image"])
    assert image.labels["io.multicloud.digest"] == first.digest
    # a code change is a new digest
    (spec.parent / "app.py").write_text((spec.parent / "app.py").read_text() + "\n# changed\n")
    changed = DockerProvider(Project.load(spec)).build(spec.parent / ".multicloud" / "build" / "docker")
    assert changed.digest != first.digest


def make_wheel(folder: Path) -> Path:
    """A real pure-Python wheel, written by hand: no index and no build backend needed."""
    files = {"mcdemo/__init__.py": b"VALUE = 42\n",
             "mcdemo-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: mcdemo\nVersion: 1.0\n",
             "mcdemo-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                           b"Tag: py3-none-any\n"}
    record = ""
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record += f"{name},sha256={digest},{len(data)}\n"
    record += "mcdemo-1.0.dist-info/RECORD,,\n"
    files["mcdemo-1.0.dist-info/RECORD"] = record.encode()
    path = folder / "mcdemo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def test_dependencies_installed_on_host_reach_the_image(engine: Any, deployed: Any, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels)
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # pip's own configuration: an offline wheelhouse
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    d = deployed("deps", handlers="import mcdemo\n\ndef hello(event, context):\n    return {'value': mcdemo.VALUE}\n"
                 "\ndef slow(event, context):\n    return 'x'\n")
    (d.spec.parent / "requirements.txt").write_text("mcdemo==1.0\n")
    d.deploy()
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(d.url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 0, timeout=20)
    conn.request("GET", "/hello")
    assert json.loads(conn.getresponse().read()) == {"value": 42}
    conn.close()


@pytest.fixture
def tcp_engine() -> Iterator[str]:
    """tcp://127.0.0.1:PORT relaying to the engine's unix socket: a real remote-style DOCKER_HOST."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    stop = threading.Event()

    def pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect("/var/run/docker.sock")
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=pump, args=(a, b), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(timeout=5)
    listener.close()


def test_docker_host_is_honoured(engine: Any, deployed: Any, tcp_engine: str,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    if not Path("/var/run/docker.sock").exists():
        pytest.skip("the engine is not on the default unix socket")
    monkeypatch.setenv("DOCKER_HOST", tcp_engine)
    d = deployed("tcp")
    result = d.deploy()
    assert result.changed and d.provider.status().functions[0].state == "running"
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")  # nothing listens there
    with pytest.raises(OperationError) as info:
        d.provider.status()
    assert "tcp://127.0.0.1:9" in info.value.what and info.value.exit_code == 1
    monkeypatch.setenv("DOCKER_HOST", tcp_engine)
