"""Functional fixtures shared by several files."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "multicloud", "providers", "blueprints")


@pytest.fixture(scope="session")
def plain_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with only `pip install .` of a copy of this checkout's sources: no extras, no peers."""
    base = tmp_path_factory.mktemp("plain")
    src = base / "src"
    for name in SOURCES:
        item = ROOT / name
        if item.is_dir():
            shutil.copytree(item, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            src.mkdir(exist_ok=True)
            shutil.copy2(item, src / name)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    proc = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(src)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    probe = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import importlib.util as u; print([m for m in ('boto3', 'docker', 'azure.identity', "
                            "'google.cloud.functions_v2') if u.find_spec(m.split('.')[0]) and u.find_spec(m)])"],
                           capture_output=True, text=True, timeout=60)
    assert probe.stdout.strip() == "[]", f"the plain install has SDKs: {probe.stdout}"
    return venv
