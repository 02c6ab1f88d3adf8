"""Fixtures: the sample service built for Azure, and its app module loaded from the zip."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from types import ModuleType

import pytest
from azure_testkit import build, copy_sample, load_app_module

from multicloud.provider import BuildResult


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    root = tmp_path_factory.mktemp("azure-sample")
    return build(copy_sample(root / "svc"), root / "build")


@pytest.fixture(scope="module")
def app_module(built: BuildResult, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    dest = tmp_path_factory.mktemp("wwwroot")
    saved = list(sys.path)
    try:
        yield load_app_module(built.out_dir / "app.zip", dest)
    finally:
        sys.path[:] = saved
        for name in ("function_app", "handler"):
            sys.modules.pop(name, None)
