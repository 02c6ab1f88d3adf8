"""Fixtures for the event-trigger tests: a real nats-server (Debian's package, installed by .ci/run) behind
the `local` target, and tests/e2e/docker's engine fixtures (loaded from that file, not copied) for the docker
and swarm tests. Helpers live in events_support.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from events_support import docker_fixtures

engine = docker_fixtures.engine  # re-exported: pytest registers what a conftest module holds
broker_image = docker_fixtures.broker_image


@pytest.fixture(scope="session")
def nats_server() -> Path:
    from multicloud.providers.local.broker import find_binary

    binary = find_binary()
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but nats-server is missing; .ci/run installs Debian's nats-server package")
        pytest.skip("nats-server is not installed (apt-get install nats-server)")
    return binary
