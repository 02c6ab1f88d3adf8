"""The private runtime's own packages (uvicorn, httptools, uvloop and what they need) for a function image.

They reach the image the way a service's dependencies do: installed on the deploying host, copied into the
build context (`server/`, its own layer, on PYTHONPATH), so the image build needs no network. Two ways:

* **the host's own copies** when they fit the image: the packages multicloud runs with here were installed
  from wheels whose tags (read from each `*.dist-info/WHEEL`) match the image's Python and platform; their
  files (from `RECORD`) are copied as they are. The usual case (a Linux x86_64 or aarch64 host whose Python
  is the image's), and it works offline.
* otherwise `pip install --target` of the same versions for the image's platform (`pip_install_target`,
  so PIP_INDEX_URL / PIP_FIND_LINKS / PIP_NO_INDEX apply, as for a service's requirements), cached per
  versions, Python and platform under the user's cache folder (MULTICLOUD_CACHE_DIR overrides it).
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import os
import platform
import re
import shutil
import sys
import tempfile
from pathlib import Path

from multicloud.package import iter_tree, pip_install_target
from multicloud.provider import Progress

SERVER_PACKAGES = ("uvicorn", "httptools", "uvloop")
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
SKIP_SUFFIXES = (".pyc", ".pyx", ".pxd", ".pyi", ".c", ".h")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure() -> list[md.Distribution]:
    """The server packages installed here and everything they require (extras left out)."""
    seen: dict[str, md.Distribution] = {}
    todo = list(SERVER_PACKAGES)
    while todo:
        name = _canonical(todo.pop())
        if name in seen:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            if name in SERVER_PACKAGES:
                raise
            continue  # a requirement whose marker does not hold here (this Python is the image's)
        seen[name] = dist
        for req in dist.requires or ():
            if "extra" in req.partition(";")[2]:
                continue
            m = NAME_RE.match(req)
            if m:
                todo.append(m.group(0))
    return [seen[k] for k in sorted(seen)]


def requirements() -> list[str]:
    """The versions to install: exactly those multicloud runs with on this host."""
    return [f"{dist.metadata['Name']}=={dist.version}" for dist in _closure()]


def _fits(dist: md.Distribution, python_version: str, platforms: tuple[str, ...]) -> bool:
    wheel = dist.read_text("WHEEL") or ""
    tags = [line.split(":", 1)[1].strip() for line in wheel.splitlines() if line.startswith("Tag:")]
    if not tags or dist.read_text("RECORD") is None:
        return False
    cp = "cp" + python_version.replace(".", "")
    for tag in tags:
        py, abi, plat = tag.split("-")
        if plat not in ("any", *platforms):
            continue
        if plat != "any" and f"{sys.version_info[0]}.{sys.version_info[1]}" != python_version:
            continue  # compiled for this interpreter; the image's differs
        if any(p in (cp, "py3", "py2") for p in py.split(".")) and abi in ("none", "abi3", cp):
            return True
    return False


def host_files(python_version: str, platforms: tuple[str, ...]) -> dict[str, Path] | None:
    """{path under site-packages: file} of the host's server packages, or None when one does not fit."""
    if sys.platform != "linux":
        return None
    dists = _closure()
    if not all(_fits(d, python_version, platforms) for d in dists):
        return None
    files: dict[str, Path] = {}
    for dist in dists:
        for entry in dist.files or ():
            rel = entry.as_posix()
            if rel.startswith("..") or "__pycache__" in rel or rel.endswith(SKIP_SUFFIXES):
                continue  # console scripts live outside site-packages; build sources are not needed
            path = Path(str(dist.locate_file(entry)))
            if path.is_file():
                files[rel] = path
    return files


def cache_root() -> Path:
    explicit = os.environ.get("MULTICLOUD_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "multicloud"


def pip_files(python_version: str, platforms: tuple[str, ...], progress: Progress) -> dict[str, Path]:
    """pip --target of the same versions for the image's platform, cached per versions/Python/platform."""
    reqs = requirements()
    key = hashlib.sha256(repr((reqs, python_version, platforms)).encode()).hexdigest()[:16]
    folder = cache_root() / "server-packages" / key
    if not (folder / ".complete").is_file():
        progress(f"installing the runtime's server packages for Python {python_version} ({', '.join(reqs)})")
        folder.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f".{key}-", dir=folder.parent) as tmp:
            req_file = Path(tmp) / "requirements.txt"
            req_file.write_text("\n".join(reqs) + "\n")
            target = Path(tmp) / "packages"
            pip_install_target(req_file, target, python_version=python_version, platforms=platforms)
            (target / ".complete").write_text("\n".join(reqs) + "\n")
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(target, folder)  # atomic: a concurrent build sees all of it or none
    return {arc: path for arc, path in iter_tree(folder) if arc != ".complete"}


def server_files(python_version: str, platforms: tuple[str, ...], progress: Progress) -> dict[str, Path]:
    """What goes under `server/` in the build context."""
    machine = platform.machine()
    if any(p.endswith(machine) for p in platforms):
        found = host_files(python_version, platforms)
        if found is not None:
            return found
    return pip_files(python_version, platforms, progress)
