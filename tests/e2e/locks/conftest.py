"""Fixtures for the lock tests, reused from the target folders rather than rewritten: the docker folder's
engine fixture, labelled projects and teardown by session label; the aws folder's moto server (reached
through AWS_ENDPOINT_URL) and sample service. Their conftest modules are loaded under unique names, since
several folders have a conftest.py."""

from __future__ import annotations

import sys
from pathlib import Path

E2E = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(E2E))
from e2e_fixtures import fixtures_of  # noqa: E402

sys.path.insert(0, str(E2E / "aws"))  # aws_e2e_support
docker_e2e = fixtures_of("docker")
aws_e2e = fixtures_of("aws")

engine = docker_e2e.engine
moto_endpoint = aws_e2e.moto_endpoint
moto = aws_e2e.moto
