"""Helpers for the Azure functional tests: build the sample, load its zip the way the worker does."""

from __future__ import annotations

import importlib
import shutil
import sys
import zipfile
from pathlib import Path
from types import ModuleType

from multicloud.project import Project
from multicloud.provider import BuildResult
from multicloud.providers.azure import AzureProvider

SAMPLE = Path(__file__).parent / "sample"


def copy_sample(dest: Path, spec_text: str | None = None) -> Path:
    shutil.copytree(SAMPLE, dest, ignore=shutil.ignore_patterns("__pycache__", ".multicloud"))
    if spec_text is not None:
        (dest / "multicloud.yaml").write_text(spec_text)
    return dest / "multicloud.yaml"


def build(spec: Path, out: Path) -> BuildResult:
    return AzureProvider(Project.load(spec)).build(out)


def load_app_module(zip_path: Path, dest: Path) -> ModuleType:
    """Unpack the package and import `function_app` with the script root first on sys.path, as the
    worker does (`.python_packages/lib/site-packages` after it)."""
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(dest)
    for name in [m for m in sys.modules if m in ("function_app", "handler")]:
        del sys.modules[name]
    sys.path[:0] = [str(dest), str(dest / ".python_packages/lib/site-packages")]
    importlib.invalidate_caches()
    return importlib.import_module("function_app")
