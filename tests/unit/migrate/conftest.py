"""Helpers for the importer's tests: write a Serverless service into a folder and convert it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from textwrap import dedent

import pytest

from multicloud.migrate import Conversion, convert_file


@pytest.fixture
def service(tmp_path: Path) -> Callable[..., Path]:
    """service(yml, files={path: text}) -> the folder, with serverless.yml and the given files."""

    def make(yml: str, files: dict[str, str] | None = None) -> Path:
        (tmp_path / "serverless.yml").write_text(dedent(yml))
        for name, text in (files or {"handler.py": "def main(event, context):\n    return {}\n"}).items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(dedent(text))
        return tmp_path

    return make


@pytest.fixture
def convert(service: Callable[..., Path]) -> Callable[..., Conversion]:
    """convert(yml, files=..., environ=..., stage=...) -> the Conversion (environ defaults to empty)."""

    def run(yml: str, files: dict[str, str] | None = None, **kwargs: object) -> Conversion:
        folder = service(yml, files)
        kwargs.setdefault("environ", {})
        return convert_file(folder / "serverless.yml", **kwargs)  # type: ignore[arg-type]

    return run
