"""Fixtures for the gcp functional tests: the sample service, copied so builds never touch the repo."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from multicloud.project import Project
from multicloud.provider import BuildResult
from multicloud.providers.gcp import GcpProvider

SERVICE = Path(__file__).parent / "service"


@pytest.fixture
def service_dir(tmp_path: Path) -> Path:
    dest = tmp_path / "shop"
    shutil.copytree(SERVICE, dest)
    return dest


@pytest.fixture
def built(service_dir: Path) -> BuildResult:
    project = Project.load(service_dir)
    return GcpProvider(project).build(service_dir / ".multicloud" / "build" / "gcp")
