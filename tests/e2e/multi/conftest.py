"""Fixtures for the multi-target tests: the moto server and Lambda emulation image of tests/e2e/aws and
the Docker Engine fixtures (labels, base image, cleanup) of tests/e2e/docker, loaded from those files
rather than copied, plus a service spec that deploys to local, docker and aws alike."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

E2E = Path(__file__).parent.parent


def _load(name: str, path: Path) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


aws_fixtures = _load("multi_aws_fixtures", E2E / "aws" / "conftest.py")
docker_fixtures = _load("multi_docker_fixtures", E2E / "docker" / "conftest.py")

# Re-exported fixtures: pytest registers what a conftest module holds.
moto_endpoint = aws_fixtures.moto_endpoint
moto = aws_fixtures.moto
lambda_images = aws_fixtures.lambda_images
engine = docker_fixtures.engine

BASE_IMAGE: str = docker_fixtures.BASE_IMAGE
TEST_LABEL: str = docker_fixtures.TEST_LABEL
SESSION: str = docker_fixtures.SESSION
TARGETS = ("local", "docker", "aws")

APP = '''
from multicloud import Response


def hello(event, context):
    name = event.http.query.get("name", ["world"])[0]
    return Response(200, {"content-type": "text/plain"}, f"hello {name}")
'''


def write_service(root: Path, tag: str, *, base_image: str = BASE_IMAGE, app: str = APP) -> Path:
    """A one-function service that every one of local, docker and aws can run."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "app.py").write_text(app)
    (root / "multicloud.yaml").write_text(f"""\
service: {docker_fixtures.service_name(tag)}
runtime: python3.11
functions:
  hello:
    handler: app.hello
    memory: 128
    timeout: 10
    env:
      MODE: test
    triggers:
      - http: {{path: /hello, methods: [GET]}}
targets:
  local: {{}}
  docker:
    base_image: {base_image}
    labels: {{{TEST_LABEL}: "{SESSION}"}}
  aws:
    stage: test
""")
    return root


@pytest.fixture
def service(tmp_path: Path, moto: str, lambda_images: None, engine: Any) -> Iterator[Any]:
    """service(tag, **kwargs) -> a fresh service folder; whatever it deployed is removed afterwards."""
    from multicloud.orchestrate import provider_for
    from multicloud.project import Project

    made: list[Path] = []

    def make(tag: str, **kwargs: Any) -> Path:
        made.append(write_service(tmp_path / tag, tag, **kwargs))
        return made[-1]

    yield make
    for root in made:
        project = Project.load(root)
        for target in TARGETS:
            try:
                provider_for(project, target).remove()
            except Exception:  # noqa: BLE001 - nothing there, or the engine's label cleanup takes it
                pass


def cli(*args: str, cwd: Path) -> Any:
    """The installed `multicloud` command in a subprocess (it finds moto through AWS_ENDPOINT_URL)."""
    import os
    import subprocess

    exe = Path(sys.executable).with_name("multicloud")
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, env=dict(os.environ),
                          timeout=600)


def ask(root: Path, target: str, name: str = "multi") -> tuple[int | None, str]:
    """GET /hello?name=... on one target, through that target's provider."""
    from multicloud.orchestrate import provider_for
    from multicloud.project import Project
    from multicloud.provider import InvokeRequest

    result = provider_for(Project.load(root), target).invoke(
        InvokeRequest("hello", query={"name": [name]}))
    return result.status, result.body.decode("utf-8", "replace")
