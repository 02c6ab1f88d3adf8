"""Core-side builder for the private HTTP runtime, shared by the `local` and `docker` targets.

`runtime_config(project, target)` turns the resolved spec into `runtime.json` (what
`multicloud.runtime.server` serves: functions, routes, schedules, limits, env and secret *references*).
`stage_artifact(...)` lays out a folder the server runs from:

    <out_dir>/runtime.json
    <out_dir>/app/    user code + vendored runtime (multicloud.vendor.artifact_files)
    <out_dir>/deps/   dependencies (pip --target), empty without a requirements file

and skips all work when the inputs' digest has not changed. The server is then started with `app/` as
working directory: `python -m multicloud.runtime.server --config ../runtime.json --port N` (the Docker
image copies the folder; the local target copies it into a release folder).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multicloud.errors import SpecError, UnsupportedError
from multicloud.package import pip_install_target, tree_digest
from multicloud.project import Project, ResolvedFunction
from multicloud.provider import Progress, no_progress
from multicloud.spec.models import HttpTrigger, ScheduleTrigger
from multicloud.spec.secrets import scheme_of
from multicloud.vendor import artifact_files

CONFIG_NAME = "runtime.json"
APP_DIR = "app"
DEPS_DIR = "deps"
DIGEST_NAME = ".stage-digest"
DEFAULT_AUTH_KEY_REF = "env:MULTICLOUD_AUTH_KEY"
PRIVATE_SCHEMES = ("env", "file")
SERVER_MODULE = "multicloud.runtime.server"


@dataclass(frozen=True)
class StagedArtifact:
    out_dir: Path
    config_path: Path
    app_dir: Path
    deps_dir: Path
    digest: str
    rebuilt: bool  # False: inputs unchanged, the folder was left as it was
    size: int  # bytes under out_dir

    def command(self, python: str = "python3") -> list[str]:
        """The server's command line; run it with app/ as working directory (add --port N or --fd N).

        `python -m` puts the working directory first on sys.path, so the vendored runtime in app/ is
        the one that runs, whatever else is installed.
        """
        return [python, "-m", SERVER_MODULE, "--config", f"../{CONFIG_NAME}"]


def _merge(kind: str, functions: list[ResolvedFunction], get: Any) -> None:
    """One process serves every function, so env and secrets share one os.environ: no conflicts."""
    seen: dict[str, tuple[str, str]] = {}
    for fn in functions:
        for name, value in get(fn).items():
            if name in seen and seen[name][1] != value:
                raise UnsupportedError(
                    f"functions {seen[name][0]!r} and {fn.name!r} set {kind} {name} differently; the private "
                    "runtime serves all functions of a service in one process with one environment",
                    fix=f"use one value for {name}, or a distinct name per function",
                    where=f"functions.{fn.name}.{kind}.{name}",
                )
            seen[name] = (fn.name, value)


def runtime_config(project: Project, target: str, *, auth_key_ref: str | None = None) -> dict[str, Any]:
    """runtime.json for `target` ("local" or "docker"). Secret values never appear, only references."""
    functions = project.functions_for(target)
    _merge("env", functions, lambda f: f.env)
    _merge("secrets", functions, lambda f: f.secrets)
    settings = project.settings(target)
    concurrency = int(getattr(settings, "concurrency", 32))
    max_body = int(float(getattr(settings, "max_body_mb", 6)) * 1024 * 1024)
    # connections live on the event loop (no thread each): only `concurrency` worker threads count
    # against a container's pids limit
    limits: dict[str, Any] = {"concurrency": concurrency, "max_body_bytes": max_body}
    needs_key = False
    out: dict[str, Any] = {}
    for fn in functions:
        for env_name, ref in fn.secrets.items():
            if scheme_of(ref) not in PRIVATE_SCHEMES:
                raise SpecError(
                    f"secret {env_name} of function {fn.name} uses {ref.split(':', 1)[0]}:, which the {target} "
                    "target cannot resolve",
                    fix=f"give a per-target reference, e.g. {env_name}: {{{target}: env:{env_name}}} or file:/path",
                    where=f"functions.{fn.name}.secrets.{env_name}",
                )
        routes, schedules, events = [], [], []
        for trig in fn.triggers:
            cfg = trig.config
            if isinstance(cfg, HttpTrigger):
                routes.append({"path": cfg.path, "methods": list(cfg.methods), "auth": cfg.auth})
                needs_key = needs_key or cfg.auth == "key"
            elif isinstance(cfg, ScheduleTrigger):
                if cfg.rate is not None:
                    schedules.append({"rate_seconds": cfg.rate_seconds, "expression": cfg.rate})
                else:
                    schedules.append({"cron": cfg.cron, "expression": cfg.cron})
            else:
                events.append({"kind": trig.kind, **cfg.model_dump(mode="json")})
        out[fn.name] = {
            "handler": fn.handler,
            "timeout": fn.timeout,
            "memory": fn.memory,
            "env": dict(sorted(fn.env.items())),
            "secrets": dict(sorted(fn.secrets.items())),
            "http": routes,
            "schedules": schedules,
            "events": events,  # informational: any CloudEvent may be POSTed to /_events/<name>
        }
    config: dict[str, Any] = {
        "format": 1,
        "service": project.name,
        "target": target,
        "paths": [APP_DIR, DEPS_DIR],
        "functions": out,
        "auth": {"key": auth_key_ref or DEFAULT_AUTH_KEY_REF} if needs_key or auth_key_ref else {},
        "limits": limits,
    }
    return config


def _requirements(project: Project) -> Path | None:
    if not project.spec.requirements:
        default = project.root / "requirements.txt"
        return default if default.is_file() else None
    path = (project.root / project.spec.requirements).resolve()
    if not path.is_file():
        raise SpecError("requirements file not found", fix="fix the `requirements` path",
                        where=f"{project.spec_path}: requirements")
    return path


def _size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def stage_artifact(
    project: Project,
    target: str,
    out_dir: Path,
    progress: Progress = no_progress,
    *,
    auth_key_ref: str | None = None,
    pip_platforms: tuple[str, ...] = (),
    python_version: str | None = None,
) -> StagedArtifact:
    """Lay out runtime.json + app/ + deps/ in out_dir; unchanged inputs -> no rebuild.

    `pip_platforms` (e.g. ("manylinux2014_x86_64",)) installs wheels for another platform, as a
    container needs; empty means this machine's platform (the local target).
    """
    config = runtime_config(project, target, auth_key_ref=auth_key_ref)
    config_bytes = (json.dumps(config, indent=2, sort_keys=True) + "\n").encode()
    files = artifact_files(project, private=True)
    requirements = _requirements(project)
    version = python_version or project.spec.python_version
    inputs: dict[str, Path | bytes] = {f"{APP_DIR}/{k}": v for k, v in files.items()}
    inputs[CONFIG_NAME] = config_bytes
    inputs["\0requirements"] = requirements.read_bytes() if requirements else b""
    inputs["\0pip"] = json.dumps([list(pip_platforms), version if pip_platforms else ""]).encode()
    digest = tree_digest(inputs)
    out_dir.mkdir(parents=True, exist_ok=True)
    app_dir, deps_dir, config_path = out_dir / APP_DIR, out_dir / DEPS_DIR, out_dir / CONFIG_NAME
    digest_path = out_dir / DIGEST_NAME
    if digest_path.is_file() and digest_path.read_text().strip() == digest and app_dir.is_dir():
        progress(f"{target}: inputs unchanged, reusing {out_dir}")
        return StagedArtifact(out_dir, config_path, app_dir, deps_dir, digest, False, _size(out_dir))
    digest_path.unlink(missing_ok=True)  # a build that stops half-way must not look complete
    for stale in (app_dir, deps_dir):
        shutil.rmtree(stale, ignore_errors=True)
    progress(f"{target}: copying {len(files)} files")
    for arc, src in files.items():
        dest = app_dir / arc
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
    deps_dir.mkdir(parents=True, exist_ok=True)
    if requirements is not None and requirements.read_text().strip():
        progress(f"{target}: installing dependencies from {requirements.name}")
        pip_install_target(requirements, deps_dir, python_version=version, platforms=pip_platforms)
    config_path.write_bytes(config_bytes)
    digest_path.write_text(digest + "\n")
    return StagedArtifact(out_dir, config_path, app_dir, deps_dir, digest, True, _size(out_dir))
