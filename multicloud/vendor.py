"""What goes into every artifact besides dependencies: the user's code and the vendored runtime.

The runtime (`multicloud/__init__.py` and `multicloud/runtime/`) is stdlib-only and is copied into each
artifact, so deployed code imports `multicloud` without installing it from a registry. The private HTTP
server (`runtime/server*.py`, `runtime/scheduler.py`) runs on uvicorn: it goes only into the private
targets' artifacts (`private=True`: local, docker), whose environment has its dependencies; the cloud
artifacts (Lambda, Azure, GCP) stay stdlib-only and never carry it.
"""

from __future__ import annotations

from pathlib import Path

import multicloud
from multicloud.files import select
from multicloud.package import iter_tree
from multicloud.project import Project

PACKAGE_DIR = Path(multicloud.__file__).parent


def is_private_server(arc: str) -> bool:
    """A module of the private HTTP server (needs uvicorn), not of the portable runtime."""
    name = arc.rsplit("/", 1)[-1]
    return name.startswith("server") or name == "scheduler.py"


def runtime_files(*, private: bool = False) -> dict[str, Path]:
    files = {"multicloud/__init__.py": PACKAGE_DIR / "__init__.py"}
    for arc, path in iter_tree(PACKAGE_DIR / "runtime", "multicloud/runtime"):
        if private or not is_private_server(arc):
            files[arc] = path
    return files


def user_files(project: Project) -> dict[str, Path]:
    """The service's own files: the default selection, `include:` and `exclude:` (multicloud.files)."""
    files = select(project.root, project.spec.include, project.spec.exclude).files
    if "multicloud/__init__.py" in files:
        from multicloud.errors import SpecError

        raise SpecError(
            "the service has its own `multicloud` package, which would shadow the vendored runtime",
            fix="rename that folder",
            where=str(project.root / "multicloud"),
        )
    return files


def artifact_files(project: Project, *, private: bool = False) -> dict[str, Path]:
    return {**user_files(project), **runtime_files(private=private)}
