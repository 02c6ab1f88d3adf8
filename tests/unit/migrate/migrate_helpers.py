"""Shared by the importer's tests (a module of its own: test folders' conftest modules share one name)."""

from __future__ import annotations

from multicloud.migrate import Conversion


def notes_text(conversion: Conversion, kind: str | None = None) -> str:
    return "\n".join(str(n) for n in conversion.notes if kind is None or n.kind == kind)
