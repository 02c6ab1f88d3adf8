"""Fixtures for the lock tests, reused from the target folders rather than rewritten: the docker folder's
engine fixture, labelled projects and teardown by session label; the aws folder's moto server (reached
through AWS_ENDPOINT_URL) and sample service. Their conftest modules are loaded under unique names, since
several folders have a conftest.py."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

E2E = Path(__file__).resolve().parent.parent


def _load(name: str, path: Path) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


sys.path.insert(0, str(E2E / "aws"))  # aws_e2e_support
docker_e2e = _load("docker_e2e_fixtures", E2E / "docker" / "conftest.py")
aws_e2e = _load("aws_e2e_fixtures", E2E / "aws" / "conftest.py")

engine = docker_e2e.engine
moto_endpoint = aws_e2e.moto_endpoint
moto = aws_e2e.moto
