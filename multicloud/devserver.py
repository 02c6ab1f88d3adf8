"""`multicloud dev`: serve the service in the foreground with the private runtime."""

from __future__ import annotations

from collections.abc import Callable

from multicloud.errors import UnsupportedError
from multicloud.project import Project


def serve(project: Project, port: int, step: Callable[[str], None]) -> int:
    raise UnsupportedError("`dev` is not implemented yet", fix="use `multicloud deploy --target local`")
