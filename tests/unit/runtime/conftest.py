"""Runtime tests: the fixture handler module is importable as `portable_handler`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
if str(FIXTURES) not in sys.path:
    sys.path.insert(0, str(FIXTURES))


@pytest.fixture
def seen() -> list[dict[str, object]]:
    import portable_handler

    portable_handler.SEEN.clear()
    return portable_handler.SEEN


@pytest.fixture
def log_lines(capsys: pytest.CaptureFixture[str]):
    """Everything the structured logger wrote to stderr so far, parsed (each line must be JSON)."""
    captured: list[str] = []

    def lines() -> list[dict[str, object]]:
        captured.append(capsys.readouterr().err)
        return [json.loads(line) for line in "".join(captured).splitlines() if line.strip()]

    return lines

