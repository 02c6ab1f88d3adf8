"""Fixtures for the multi-target tests: tests/e2e/aws's moto server and Lambda emulation image and
tests/e2e/docker's engine fixtures (loaded from those files, not copied), plus a labelled service that
deploys to local, docker and aws alike and the hybrid clinic example. Helpers live in multi_support.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from multi_support import TARGETS, aws_fixtures, docker_fixtures, write_clinic, write_service

# Re-exported fixtures: pytest registers what a conftest module holds.
moto_endpoint = aws_fixtures.moto_endpoint
moto = aws_fixtures.moto
lambda_images = aws_fixtures.lambda_images
engine = docker_fixtures.engine


def _remove_everywhere(roots: list[Path]) -> None:
    from multicloud.orchestrate import provider_for
    from multicloud.project import Project

    for root in roots:
        project = Project.load(root)
        for target in TARGETS:
            try:
                provider_for(project, target).remove()
            except Exception:  # noqa: BLE001 - nothing there, or the engine's label cleanup takes it
                pass


@pytest.fixture
def service(tmp_path: Path, moto: str, lambda_images: None, engine: Any) -> Iterator[Any]:
    """service(tag, **kwargs) -> a fresh service folder; whatever it deployed is removed afterwards."""
    made: list[Path] = []

    def make(tag: str, **kwargs: Any) -> Path:
        made.append(write_service(tmp_path / tag, tag, **kwargs))
        return made[-1]

    yield make
    _remove_everywhere(made)


@pytest.fixture
def clinic(tmp_path: Path, moto: str, lambda_images: None, engine: Any) -> Iterator[Path]:
    """A copy of examples/hybrid-clinic deploying to moto and the engine; removed from both afterwards."""
    root = write_clinic(tmp_path / "clinic", "clinic")
    yield root
    _remove_everywhere([root])
