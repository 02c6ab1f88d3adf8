"""Fixtures for the AWS end-to-end tests: a real moto server on 127.0.0.1 and the Docker images moto
needs to run Lambda code, built locally from the air-gapped base image (no registry is reachable).

boto3 reaches moto only through the standard AWS_ENDPOINT_URL variable, with fake credentials.
"""

from __future__ import annotations

import os
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).parent
BASE_IMAGE = "multicloud/python:3.11-bookworm"
EMULATOR_IMAGE = "multicloud/lambda-emulator:python3.11"
BUSYBOX = "busybox:latest"
LABEL = "multicloud.test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _patch_moto_versions() -> None:
    """moto 5.2.5 bug: a published version is a copy made through `LambdaFunction.__getstate__`, which
    drops the Docker client attribute, so invoking any version or alias fails with AttributeError
    ("no attribute '_DockerModel__docker_client'"). Restore the attribute (unset) on copies; moto then
    creates its client lazily as it does for $LATEST. Test infrastructure only: it fixes the emulator."""
    from moto.awslambda.models import LambdaFunction

    if getattr(LambdaFunction, "_multicloud_patched", False):
        return

    def __setstate__(self: object, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self.__dict__.setdefault("_DockerModel__docker_client", None)

    LambdaFunction.__setstate__ = __setstate__  # type: ignore[attr-defined]
    LambdaFunction._multicloud_patched = True  # type: ignore[attr-defined]


@pytest.fixture(scope="package")  # the AWS_* variables must not leak into other folders' tests
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    _patch_moto_versions()

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "MOTO_DOCKER_LAMBDA_IMAGE": EMULATOR_IMAGE,
    }
    saved = {k: os.environ.get(k) for k in [*env, "AWS_PROFILE"]}
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(env)
    try:
        yield env["AWS_ENDPOINT_URL"]
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def moto(moto_endpoint: str) -> Iterator[str]:
    """A clean moto account for each test."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")).read()
    yield moto_endpoint


# What the Lambda Python runtime provides besides the standard library (in /var/runtime on AWS): boto3, and
# the runtime interface client that loads handlers (awslambdaric, its C extension and its dependencies).
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py", "awslambdaric",
                    "simplejson", "snapshot_restore_py.py")
RUNTIME_API = HERE.parents[1] / "fixtures" / "lambda_runtime_api.py"


@pytest.fixture(scope="session")
def lambda_images(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Build the emulation image (boto3 and awslambdaric, as Lambda's runtime has them) and, when absent, a
    busybox stand-in, both from the air-gapped base image. The host's awslambdaric is copied in: its C
    extension is built for CPython 3.11 on glibc x86_64, which the bookworm base image runs."""
    import shutil
    import sys

    import docker

    client = docker.from_env()
    try:
        client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"{BASE_IMAGE} is missing: build it with `multicloud docker base-image` (CI: .ci/run)")
    context = tmp_path_factory.mktemp("lambda-image")
    shutil.copytree(HERE / "lambda_image", context, dirs_exist_ok=True)
    shutil.copyfile(RUNTIME_API, context / RUNTIME_API.name)
    site = next(Path(p) for p in sys.path if p.endswith("site-packages") and (Path(p) / "botocore").is_dir())
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for extension in site.glob("runtime_client.cpython-*.so"):  # awslambdaric's Runtime API client (C++)
        (context / "runtime").mkdir(exist_ok=True)
        shutil.copyfile(extension, context / "runtime" / extension.name)
    for name in RUNTIME_PACKAGES:
        src = site / name
        if src.is_dir():
            shutil.copytree(src, context / "runtime" / name, ignore=ignore)
        else:
            (context / "runtime").mkdir(exist_ok=True)
            shutil.copyfile(src, context / "runtime" / name)
    # ours: always (re)built, the layer cache makes an unchanged rebuild take a moment
    client.images.build(path=str(context), tag=EMULATOR_IMAGE, rm=True, labels={LABEL: "aws"})
    try:
        client.images.get(BUSYBOX)  # any image with `sleep` will do; keep one somebody else built
    except docker.errors.ImageNotFound:
        client.images.build(path=str(HERE / "busybox_image"), tag=BUSYBOX, rm=True, labels={LABEL: "aws"})


@pytest.fixture
def moto_for_containers(moto: str) -> Iterator[str]:
    """A second listener of the same in-process moto, on the Docker bridge's gateway address, so code
    running in a Lambda container reaches it as host.docker.internal (moto's default for containers)."""
    import ipaddress

    import docker
    from moto.server import ThreadedMotoServer

    config = docker.from_env().networks.get("bridge").attrs["IPAM"]["Config"][0]
    # `host-gateway` is the default bridge's gateway: given, or the subnet's first address (Engine 20.10)
    gateway = config.get("Gateway") or str(ipaddress.ip_network(config["Subnet"])[1])
    port = _free_port()
    server = ThreadedMotoServer(ip_address=gateway, port=port, verbose=False)
    server.start()
    saved = os.environ.get("MOTO_PORT")
    os.environ["MOTO_PORT"] = str(port)  # moto gives containers AWS_ENDPOINT_URL=host.docker.internal:$MOTO_PORT
    try:
        yield f"http://{gateway}:{port}"
    finally:
        server.stop()
        if saved is None:
            os.environ.pop("MOTO_PORT", None)
        else:
            os.environ["MOTO_PORT"] = saved
