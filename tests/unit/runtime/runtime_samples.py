"""Loading the checked-in sample payloads (a uniquely named module: several test folders have a conftest)."""

from __future__ import annotations

import json
from pathlib import Path

EVENTS = Path(__file__).resolve().parents[2] / "events"


def aws_event(name: str) -> dict:
    return json.loads((EVENTS / "aws" / name).read_text())
