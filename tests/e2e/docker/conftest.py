"""Fixtures for the docker target's end-to-end tests: a real Docker Engine and the air-gapped base image.

Everything a test creates carries `io.multicloud.test=<session id>` (through the spec's
`targets.docker.labels`), and teardown removes exactly that. Without an engine the tests skip on a
developer machine, but fail loudly in CI (CI=true), where `.ci/setup-docker.sh` must have provided one.
"""

from __future__ import annotations

import os
import secrets
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BASE_IMAGE = os.environ.get("MULTICLOUD_TEST_BASE_IMAGE", "multicloud/python:3.11-bookworm")
PROXY_IMAGE = "multicloud/haproxy:2.6-bookworm"  # the gateway's, next to the air-gapped base image
BROKER_IMAGE = os.environ.get("MULTICLOUD_TEST_BROKER_IMAGE", "multicloud/nats:bookworm")
SESSION = secrets.token_hex(4)
TEST_LABEL = "io.multicloud.test"

HANDLERS = '''
import os
import time

from multicloud import Response


def hello(event, context):
    return {"version": os.environ.get("VERSION"), "target": context.target,
            "secret_len": len(os.environ.get("API_KEY", ""))}


def slow(event, context):
    time.sleep(float(event.http.query.get("s", ["5"])[0]))
    return "late"


def hog(event, context):
    blocks = []
    while True:
        blocks.append(bytearray(8 * 1024 * 1024))


def write(event, context):
    path = event.http.query["path"][0]
    try:
        with open(path, "w") as fh:
            fh.write("x")
    except OSError as exc:
        return Response(200, body={"ok": False, "error": exc.strerror, "errno": exc.errno})
    return {"ok": True}


def private(event, context):
    return {"private": True}


def big(event, context):
    return b"x" * int(event.http.query.get("n", ["1000"])[0])


async def ahello(event, context):
    """`async def`: awaited on the runtime's event loop; `s` seconds of non-blocking waiting first."""
    import asyncio
    import threading

    await asyncio.sleep(float(event.http.query.get("s", ["0"])[0]))
    return {"async": True, "thread": threading.current_thread().name, "remaining_ms": context.remaining_time_ms()}
'''


def _engine() -> Any:
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "no engine"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but no Docker Engine is reachable ({exc}); .ci/setup-docker.sh must start one")
        pytest.skip(f"no Docker Engine reachable: {exc}")
    return client


def _require_image(client: Any, image: str, command: str) -> None:
    """An air-gapped image .ci/setup-docker.sh builds: missing, CI fails; elsewhere the test is skipped."""
    try:
        client.images.get(image)
    except Exception:  # noqa: BLE001
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {image} is missing; .ci/setup-docker.sh builds it")
        pytest.skip(f"{image} is not built yet (multicloud docker {command})")


@pytest.fixture(scope="session")
def engine() -> Iterator[Any]:
    client = _engine()
    _require_image(client, BASE_IMAGE, "base-image")
    _require_image(client, PROXY_IMAGE, "proxy-image")
    yield client
    cleanup(client)


@pytest.fixture(scope="session")
def broker_image(engine: Any) -> str:
    """The air-gapped broker image on the engine (.ci/setup-docker.sh builds it)."""
    _require_image(engine, BROKER_IMAGE, "broker-image")
    return BROKER_IMAGE


def cleanup(client: Any) -> None:
    """Remove what this session made (by its label), tolerating things the engine is removing already."""
    import time

    from docker.errors import APIError

    flt = {"label": f"{TEST_LABEL}={SESSION}"}
    for _ in range(20):
        leftovers = client.containers.list(all=True, ignore_removed=True, filters=flt)
        for c in leftovers:
            try:
                c.remove(force=True)
            except APIError:  # "removal already in progress" / gone
                pass
        if not leftovers:
            break
        time.sleep(0.5)
    for kind in (client.volumes, client.networks):
        for item in kind.list(filters=flt):
            try:
                item.remove()
            except APIError:
                pass
    for img in client.images.list(filters=flt):
        try:
            client.images.remove(img.id, force=True)
        except APIError:  # shared layers / already gone
            pass


def write_project(root: Path, service: str, *, env: dict[str, str] | None = None, docker: str = "",
                  extra_functions: str = "", handlers: str = HANDLERS) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "app.py").write_text(handlers)
    env_lines = "".join(f"\n      {k}: \"{v}\"" for k, v in (env or {"VERSION": "v1"}).items())
    spec = f"""
service: {service}
runtime: python3.11
functions:
  hello:
    handler: app.hello
    memory: 64
    timeout: 2
    env:{env_lines}
    triggers:
      - http: {{path: /hello, methods: [GET, POST]}}
  slow:
    handler: app.slow
    memory: 64
    timeout: 2
    triggers:
      - http: {{path: /slow, methods: [GET]}}
{textwrap.indent(extra_functions.strip(), "  ") if extra_functions else ""}
targets:
  docker:
    base_image: {BASE_IMAGE}
    labels: {{{TEST_LABEL}: "{SESSION}"}}
{textwrap.indent(docker.strip(), "    ") if docker else ""}
"""
    (root / "multicloud.yaml").write_text(spec)
    return root / "multicloud.yaml"


def service_name(tag: str) -> str:
    return f"t{SESSION}-{tag}"[:40]


class Deployed:
    """A project deployed on the engine for one test; removed afterwards."""

    def __init__(self, spec: Path) -> None:
        from multicloud.project import Project
        from multicloud.providers.docker import DockerProvider

        self.spec = spec
        self.provider = DockerProvider(Project.load(spec))
        self.url = ""

    def reload(self) -> None:
        from multicloud.project import Project
        from multicloud.providers.docker import DockerProvider

        self.provider = DockerProvider(Project.load(self.spec))

    def build(self) -> Any:
        return self.provider.build(self.spec.parent / ".multicloud" / "build" / "docker")

    def deploy(self) -> Any:
        result = self.provider.deploy(self.build())
        self.url = result.details["url"]
        return result


@pytest.fixture
def new_project(tmp_path: Path) -> Any:
    """new_project(tag, **kwargs) -> path of a fresh multicloud.yaml (not deployed)."""

    def make(tag: str, **kwargs: Any) -> Path:
        return write_project(tmp_path / tag, service_name(tag), **kwargs)

    return make


@pytest.fixture(scope="session")
def base_image() -> str:
    return BASE_IMAGE


@pytest.fixture(scope="session")
def docker_kit() -> Any:
    """This module's helpers for test files (importing `conftest` by name is ambiguous when several e2e
    folders run in one session): SESSION, TEST_LABEL, BASE_IMAGE, HANDLERS, write_project, service_name,
    Deployed, PROXY_IMAGE."""
    import types

    return types.SimpleNamespace(SESSION=SESSION, TEST_LABEL=TEST_LABEL, BASE_IMAGE=BASE_IMAGE, HANDLERS=HANDLERS,
                                 PROXY_IMAGE=PROXY_IMAGE,
                                 write_project=write_project, service_name=service_name, Deployed=Deployed)


@pytest.fixture
def deployed(engine: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    made: list[Deployed] = []

    def make(tag: str, **kwargs: Any) -> Deployed:
        d = Deployed(write_project(tmp_path / tag, service_name(tag), **kwargs))
        made.append(d)
        return d

    yield make
    for d in made:
        try:
            d.provider.remove()
        except Exception:  # noqa: BLE001 - session teardown removes by label anyway
            pass


@pytest.fixture(scope="module")
def module_deployed(engine: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Like `deployed`, for a deployment several tests of one module share (removed after the module)."""
    made: list[Deployed] = []

    def make(tag: str, **kwargs: Any) -> Deployed:
        d = Deployed(write_project(tmp_path_factory.mktemp(tag) / tag, service_name(tag), **kwargs))
        made.append(d)
        return d

    yield make
    for d in made:
        try:
            d.provider.remove()
        except Exception:  # noqa: BLE001 - session teardown removes by label anyway
            pass


@pytest.fixture(scope="module")
def swarm(engine: Any) -> Iterator[Any]:
    """A single-node Swarm for a module's tests: initialised when the engine is not in one, and left again
    in teardown (the engine is left as it was found)."""
    state = engine.info()["Swarm"]["LocalNodeState"]
    initialised = False
    if state == "inactive":
        engine.swarm.init(advertise_addr="127.0.0.1", listen_addr="127.0.0.1:2377")
        initialised = True
    yield engine
    if initialised:
        engine.swarm.leave(force=True)


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Every write the Docker SDK sends to the engine during the test (docker_wire.WireLog)."""
    from docker_wire import patch

    return patch(monkeypatch)
