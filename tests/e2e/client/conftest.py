"""Fixtures for the client tests: tests/e2e/aws's moto server and Lambda emulation image and tests/e2e/docker's
engine, loaded from those files (not copied) through tests/e2e/e2e_fixtures.py. Helpers live in
clients_support.py."""

from __future__ import annotations

from clients_support import aws_fixtures, docker_fixtures

# Re-exported fixtures: pytest registers what a conftest module holds.
moto_endpoint = aws_fixtures.moto_endpoint
lambda_images = aws_fixtures.lambda_images
engine = docker_fixtures.engine
