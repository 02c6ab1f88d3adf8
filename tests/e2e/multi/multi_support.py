"""Helpers of the multi-target tests, imported by name (`from multi_support import ...`): a test never
imports `conftest`, a module name every folder shares. The aws and docker folders' fixture modules are
loaded once through tests/e2e/e2e_fixtures.py; the service spec deploys to local, docker and aws alike, and
the hybrid clinic (examples/hybrid-clinic) splits its functions between aws and docker."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

E2E = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(E2E))
from e2e_fixtures import fixtures_of  # noqa: E402

aws_fixtures = fixtures_of("aws")
docker_fixtures = fixtures_of("docker")

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


EXAMPLES = E2E.parent.parent / "examples"


def write_clinic(root: Path, tag: str, *, base_image: str = BASE_IMAGE) -> Path:
    """examples/hybrid-clinic as it stands (its handlers and its functions' placement), with the test's
    targets: aws on stage `test` (moto) and docker on the test base image, labelled for cleanup."""
    import shutil

    import yaml

    shutil.copytree(EXAMPLES / "hybrid-clinic", root, ignore=shutil.ignore_patterns(".multicloud", "__pycache__"))
    spec = yaml.safe_load((root / "multicloud.yaml").read_text())
    spec["service"] = docker_fixtures.service_name(tag)
    spec["targets"] = {"aws": {"stage": "test"},
                       "docker": {"base_image": base_image, "labels": {TEST_LABEL: SESSION}}}
    (root / "multicloud.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return root


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
