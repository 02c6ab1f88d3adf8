"""Build: one deterministic zip per service, shared by its functions.

Contents: the user's code, the vendored runtime, the rendered `_multicloud_entry.py` and the dependencies
installed for Lambda's platform (wheels only, for the spec's Python version and architecture). Inputs
are hashed first: when nothing changed, the previous zip is reused without reading dependencies again,
and its sha256 (which deploy compares with Lambda's CodeSha256) stays the same.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from multicloud.errors import SpecError
from multicloud.package import iter_tree, sha256_bytes, write_zip
from multicloud.project import Project
from multicloud.provider import Artifact, BuildResult, Progress
from multicloud.render import render
from multicloud.requirements import read_requirements
from multicloud.vendor import artifact_files

from .names import ENTRY_MODULE, Names
from .settings import AwsSettings

MB = 1024 * 1024
DIRECT_UPLOAD_LIMIT = 50 * MB  # zipped, CreateFunction/UpdateFunctionCode with ZipFile
UNZIPPED_LIMIT = 250 * MB  # code + layers, unzipped
BUILD_FORMAT = "1"
PACKAGE = "package.zip"
INPUTS = "inputs.json"


def platforms(architecture: str, python_version: str) -> tuple[str, ...]:
    """manylinux tags Lambda's images accept: glibc 2.26 (AL2, <=3.11) or 2.34 (AL2023, 3.12+)."""
    arch = "aarch64" if architecture == "arm64" else "x86_64"
    tags = [f"manylinux2014_{arch}", f"manylinux_2_17_{arch}"]
    if tuple(int(p) for p in python_version.split(".")) >= (3, 12):
        tags += [f"manylinux_2_28_{arch}", f"manylinux_2_34_{arch}"]
    return tuple(tags)


def entry_source(project: Project) -> bytes:
    functions = project.functions_for("aws")
    return render("aws", "entry.py.j2", service=project.name, functions=functions).encode()


def _dependencies(project: Project, settings: AwsSettings, cache: Path, progress: Progress) -> tuple[str, Path | None]:
    """Install requirements for Lambda's platform once per (requirements, python, architecture)."""
    req = project.requirements_file
    if req is None:
        return "none", None
    req_name = req.name
    if not req.is_file():
        raise SpecError(f"requirements file {project.spec.requirements!r} not found",
                        fix="fix `requirements:` or create the file", where=project.locate(("requirements",)))
    lines = read_requirements(req)
    if not lines:
        return "none", None
    version = project.spec.python_version
    plats = platforms(settings.architecture, version)
    key = sha256_bytes(json.dumps(["\n".join(lines), version, plats, BUILD_FORMAT]).encode())[:24]
    target = cache / key
    if not (target / ".complete").exists():
        from .deps import install

        progress(f"installing {req_name} for Lambda ({settings.architecture}, Python {version})")
        shutil.rmtree(target, ignore_errors=True)
        install(req, target, python_version=version, architecture=settings.architecture, pip_platforms=plats)
        (target / ".complete").write_text("")
        for old in cache.iterdir():  # keep one dependency set: builds stay lean
            if old.name != key:
                shutil.rmtree(old, ignore_errors=True)
    return key, target


def _inputs_digest(files: dict[str, Path | bytes], deps_key: str) -> str:
    """Names, sizes and mtimes of the inputs (not their bytes): cheap enough to run on every build."""
    digest = hashlib.sha256(f"{BUILD_FORMAT}\0{deps_key}\0".encode())
    for name in sorted(files):
        src = files[name]
        if isinstance(src, bytes):
            digest.update(f"{name}\0b\0".encode() + src + b"\0")
        else:
            st = src.stat()
            digest.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return digest.hexdigest()


def build(project: Project, settings: AwsSettings, out_dir: Path, progress: Progress) -> BuildResult:
    functions = project.functions_for("aws")
    files: dict[str, Path | bytes] = dict(artifact_files(project))
    files[f"{ENTRY_MODULE}.py"] = entry_source(project)
    deps_key, deps_dir = _dependencies(project, settings, out_dir / "deps", progress)
    if deps_dir is not None:
        for arc, path in iter_tree(deps_dir):
            if arc != ".complete" and arc not in files:
                files[arc] = path
    package = out_dir / PACKAGE
    inputs_file = out_dir / INPUTS
    inputs = _inputs_digest(files, deps_key)
    cached = _read_json(inputs_file)
    if (cached.get("inputs") == inputs and package.is_file()
            and package.stat().st_size == cached.get("size")):
        sha, size, unzipped = str(cached["sha256"]), int(str(cached["size"])), int(str(cached["unzipped"]))
        progress("package unchanged: reusing it")
    else:
        progress(f"zipping {len(files)} files")
        unzipped = sum(len(s) if isinstance(s, bytes) else s.stat().st_size for s in files.values())
        _check_unzipped(unzipped, project)
        sha = write_zip(package, files)
        size = package.stat().st_size
        inputs_file.write_text(json.dumps({"inputs": inputs, "sha256": sha, "size": size, "unzipped": unzipped}))
    check_size(size, unzipped, settings, project)
    stage = settings.stage
    artifacts = tuple(
        Artifact(function=fn.name, path=package, entry_point=Names(project.name, stage, fn.name).handler,
                 size=size, sha256=sha)
        for fn in functions
    )
    return BuildResult(target="aws", out_dir=out_dir, artifacts=artifacts, digest=sha)


def _check_unzipped(unzipped: int, project: Project) -> None:
    if unzipped > UNZIPPED_LIMIT:
        raise SpecError(
            f"the Lambda package is {unzipped / MB:.1f} MB unzipped; Lambda accepts at most 250 MB",
            fix="drop unneeded dependencies from requirements, or move large data out of the service folder",
            where=str(project.spec_path),
        )


def check_size(size: int, unzipped: int, settings: AwsSettings, project: Project) -> None:
    _check_unzipped(unzipped, project)
    if size > DIRECT_UPLOAD_LIMIT and not settings.artifact_bucket:
        raise SpecError(
            f"the Lambda package is {size / MB:.1f} MB zipped; direct upload accepts at most 50 MB",
            fix="set targets.aws.artifact_bucket to an S3 bucket in the same region so the package goes "
                "through S3, or trim dependencies",
            where=str(project.spec_path),
        )


def _read_json(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
