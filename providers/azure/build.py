"""Build: one deterministic zip per function app, laid out as run-from-package expects.

Layout: the rendered app files at the root, the service's code and the vendored `multicloud` runtime
beside them, and the service's dependencies pre-installed for Linux x86-64 under
`.python_packages/lib/site-packages` (no remote build). `azure-functions` is listed in requirements.txt
for tooling but not installed: the Python worker provides it. Installed dependencies are cached by the
hash of their requirements, so an unchanged rebuild is fast and byte-identical.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from multicloud.errors import SpecError
from multicloud.package import iter_tree, pip_install_target, write_zip
from multicloud.project import Project
from multicloud.provider import Artifact, BuildResult, Progress
from multicloud.vendor import artifact_files

from .app import GENERATED, app_model, render_app, user_requirements

SITE_PACKAGES = ".python_packages/lib/site-packages"
PLATFORMS = ("manylinux2014_x86_64",)
ZIP_NAME = "app.zip"
# top-level names in the app root that would replace what function_app.py or the worker imports
SHADOWING = {"azure", "azure.py", "typing.py", "function_app"}


def install_dependencies(project: Project, out_dir: Path, progress: Progress) -> Path | None:
    lines = user_requirements(project)
    if not lines:
        return None
    version = project.spec.python_version
    text = "\n".join(lines) + "\n"
    key = hashlib.sha256(f"{version}|{','.join(PLATFORMS)}|{text}".encode()).hexdigest()[:16]
    cache = out_dir / "deps" / key
    if cache.is_dir():
        return cache
    progress(f"installing {len(lines)} dependencies for Linux x86-64, Python {version}")
    tmp = out_dir / "deps" / f"{key}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    req = tmp.with_suffix(".txt")
    req.write_text(text)
    pip_install_target(req, tmp, python_version=version, platforms=PLATFORMS)
    req.unlink()
    for stale in (out_dir / "deps").glob("*"):
        if stale.is_dir() and stale.name not in (key, tmp.name):
            shutil.rmtree(stale, ignore_errors=True)
    tmp.rename(cache)
    return cache


def build_app(project: Project, out_dir: Path, progress: Progress) -> BuildResult:
    model = app_model(project)
    generated = render_app(project, model)
    files: dict[str, Path | bytes] = dict(artifact_files(project))
    clash = sorted(set(GENERATED) & set(files))
    if clash == ["requirements.txt"] and project.requirements_file == (project.root / "requirements.txt").resolve():
        clash = []  # the spec's own requirements file: the generated one lists its lines after azure-functions
    if clash:
        fix = (f"rename or remove {clash[0]} (the generated one calls your handler)" if clash[0] != "requirements.txt"
               else f"the spec's `requirements:` names {project.spec.requirements}: merge requirements.txt into "
               "it and remove it, or point `requirements:` at it")
        raise SpecError(f"the service has its own {clash[0]}, which multicloud generates for Azure",
                        fix=fix, where=str(project.root / clash[0]))
    shadow = sorted({name.split("/", 1)[0] for name in files} & SHADOWING)
    if shadow:
        raise SpecError(f"the service's top-level {shadow[0]!r} would shadow a module the Functions worker imports",
                        fix=f"rename {shadow[0]} (e.g. move it into a package of your own)",
                        where=str(project.root / shadow[0]))
    files.update(generated)
    app_dir = out_dir / "app"  # the rendered files, for reading; the zip is what ships
    app_dir.mkdir(parents=True, exist_ok=True)
    for name, data in generated.items():
        (app_dir / name).write_bytes(data)
    deps = install_dependencies(project, out_dir, progress)
    if deps is not None:
        files.update(dict(iter_tree(deps, SITE_PACKAGES)))
    progress(f"packaging {len(files)} files")
    path = out_dir / ZIP_NAME
    sha = write_zip(path, files)
    size = path.stat().st_size
    names: dict[str, list[str]] = {}
    for f in model.functions:
        names.setdefault(f.spec_function, []).append(f.name)
    artifacts = tuple(
        Artifact(function=fn, path=path, entry_point="function_app.py:" + ",".join(azure_names),
                 size=size, sha256=sha)
        for fn, azure_names in names.items()
    )
    return BuildResult(target="azure", out_dir=out_dir, artifacts=artifacts, digest=sha)
