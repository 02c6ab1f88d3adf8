"""Deterministic packaging: same inputs, same bytes, same hash.

Zip entries are sorted, timestamped 1980-01-01 and given fixed modes, so a rebuild of unchanged code is
byte-identical and its hash tells providers that nothing needs uploading.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from multicloud.errors import OperationError

FIXED_TIME = (1980, 1, 1, 0, 0, 0)
SKIP_DIRS = {"__pycache__", ".git", ".multicloud", ".venv", "venv", ".mypy_cache", ".pytest_cache",
             ".ruff_cache", ".hypothesis", "node_modules"}
SKIP_SUFFIXES = (".pyc", ".pyo")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def iter_tree(root: Path, prefix: str = "") -> Iterable[tuple[str, Path]]:
    """(archive name, file) for every file under root, skipping caches, sorted."""
    out: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info"))
        rel = Path(dirpath).relative_to(root)
        for name in filenames:
            if name.endswith(SKIP_SUFFIXES):
                continue
            arc = (Path(prefix) / rel / name).as_posix() if prefix else (rel / name).as_posix()
            out.append((arc.removeprefix("./"), Path(dirpath) / name))
    return sorted(out)


def write_zip(dest: Path, files: Mapping[str, Path | bytes]) -> str:
    """Write a deterministic zip of {archive name: file or bytes}; return its sha256."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for name in sorted(files):
            src = files[name]
            data = src if isinstance(src, bytes) else src.read_bytes()
            executable = not isinstance(src, bytes) and os.access(src, os.X_OK) and src.suffix != ".py"
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.external_attr = ((0o100755 if executable else 0o100644) & 0xFFFF) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            zf.writestr(info, data)
    os.replace(tmp, dest)
    return sha256_file(dest)


def tree_digest(files: Mapping[str, Path | bytes]) -> str:
    """Hash of names and contents: cheap to compute, decides whether a rebuild is needed."""
    digest = hashlib.sha256()
    for name in sorted(files):
        src = files[name]
        digest.update(name.encode() + b"\0")
        digest.update(src if isinstance(src, bytes) else src.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


INCLUDE_OPTIONS = ("-r", "--requirement", "-c", "--constraint")


def requirements_bytes(path: Path, _depth: int = 0) -> bytes:
    """A requirements file's bytes followed by those of every file it includes (`-r`, `-c`), recursively.

    Dependency caches key on this, so editing an included file (`-r common.txt`) rebuilds the dependencies.
    """
    data = path.read_bytes()
    if _depth >= 10:
        return data
    out = [data]
    for line in data.decode("utf-8", errors="replace").splitlines():
        words = line.split("#", 1)[0].replace("=", " ", 1).split() if line.lstrip().startswith("-") else []
        if len(words) >= 2 and words[0] in INCLUDE_OPTIONS:
            included = path.parent / words[1]
            if included.is_file():
                out.append(b"\0" + included.as_posix().encode() + b"\0" + requirements_bytes(included, _depth + 1))
    return b"".join(out)


def pip_install_target(
    requirements: Path,
    target_dir: Path,
    *,
    python_version: str,
    platforms: tuple[str, ...] = (),
    implementation: str = "cp",
) -> None:
    """Install dependencies into a folder for another platform (`pip --target --platform`).

    Wheels only (`--only-binary=:all:`) when a platform is given: the target may not be this machine.
    """
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
           "--target", str(target_dir), "-r", str(requirements), "--upgrade"]
    if platforms:
        cmd += ["--only-binary=:all:", "--python-version", python_version, "--implementation", implementation]
        for plat in platforms:
            cmd += ["--platform", plat]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise OperationError(
            f"installing dependencies from {requirements} failed: {tail}",
            fix="check the package names and that each has a wheel for the target platform",
            where=str(requirements),
        )
