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

from multicloud.errors import OperationError, SpecError, UnsupportedError
from multicloud.package import iter_tree, pip_install_target, requirements_bytes, tree_digest
from multicloud.project import Project, ResolvedFunction
from multicloud.provider import Progress, no_progress
from multicloud.requirements import read_requirements
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
BROKER_CLIENT = "nats"  # the import name of nats-py, the runtime's broker client


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


@dataclass(frozen=True)
class BrokerAccess:
    """How the runtime reaches the service's broker on a target: client URLs as seen from the runtime and a
    reference to the runtime user's password (and to the producer's, for the HTTP intake)."""

    servers: tuple[str, ...]
    password_ref: str
    producer_password_ref: str | None = None


def intake_channels(project: Project, target: str) -> bool:
    """Does a function on `target` read a queue or stream (what the runtime's HTTP intake takes)?"""
    return any(t.kind in ("queue", "stream") for fn in project.functions_for(target) for t in fn.triggers)


def holds_key(project: Project, target: str) -> bool:
    """Does the private runtime on `target` hold the service's key (checked by `auth: key` routes and by the
    HTTP intake, which never takes unauthenticated messages)?

    When a route is `auth: key`; on `local` also whenever a function reads a queue or stream (the key is
    generated into .multicloud/local/auth.key, so the intake is always on there); on `docker` also when
    `targets.docker.auth_key` is set in the spec: that key comes from the deploying host, and a default
    reference nobody asked for must not start failing the deploys of queue-only services."""
    if any(isinstance(t.config, HttpTrigger) and t.config.auth == "key"
           for fn in project.functions_for(target) for t in fn.triggers):
        return True
    if not intake_channels(project, target):
        return False
    if target == "local":
        return True
    return "auth_key" in getattr(project.settings(target), "model_fields_set", ())


def runtime_config(project: Project, target: str, *, auth_key_ref: str | None = None,
                   broker: BrokerAccess | None = None, without_broker: bool = False) -> dict[str, Any]:
    """runtime.json for `target` ("local" or "docker"). Secret values never appear, only references.
    Functions that read a queue, stream or bucket consume from `broker`; `without_broker` (`multicloud dev`)
    leaves them to CloudEvents POSTed to /_events/<function>."""
    from multicloud.broker.topology import runtime_section, topology

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
            **fn.style_options,
            "handler": fn.handler,
            "timeout": fn.timeout,
            "memory": fn.memory,
            "env": dict(sorted(fn.env.items())),
            "secrets": dict(sorted(fn.secrets.items())),
            "http": routes,
            "schedules": schedules,
            "events": events,  # informational: the broker delivers them (`broker`), or POST a CloudEvent
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
    topo = topology(project, target)
    if not topo.empty and not without_broker:
        if broker is None:
            raise UnsupportedError(f"the {target} target has no broker for queue, stream and storage triggers",
                                   where=f"targets.{target}")
        producer = broker.producer_password_ref if config["auth"] else None  # the intake is always keyed
        config["broker"] = runtime_section(topo, list(broker.servers), broker.password_ref, producer)
    return config


def broker_client_files() -> dict[str, Path]:
    """The broker client (nats-py, pure Python) as installed beside multicloud on this host, to ship in
    deps/ of a runtime that consumes events: no network is needed to build the artifact or the image."""
    import importlib.util

    spec = importlib.util.find_spec(BROKER_CLIENT)
    if spec is None or not spec.submodule_search_locations:
        raise OperationError(f"the {BROKER_CLIENT} package (nats-py) is not installed beside multicloud",
                             fix="pip install nats-py (it is a dependency of multicloud: reinstall it)",
                             where="queue, stream and storage triggers")
    root = Path(next(iter(spec.submodule_search_locations)))
    return {f"{BROKER_CLIENT}/{arc}": path for arc, path in iter_tree(root)
            if "__pycache__" not in arc and not arc.endswith(".pyc")}


def warn_short_secrets(values: dict[str, str], progress: Progress) -> None:
    """Values too short to be masked in logs (multicloud.runtime.redact's rule): say so at deploy, by name."""
    from multicloud.runtime.redact import MIN_CHARS, too_short

    for name, value in sorted(values.items()):
        if too_short(value):
            progress(f"warning: secret {name} is shorter than {MIN_CHARS} characters: it is masked in logs only "
                     "where it stands alone")


def check_runtime_config(project: Project, target: str) -> None:
    """Refuse now what the private runtime would refuse when it starts: the runtime.json this spec gives
    goes through the runtime's own parser and scheduler (the same code), so `validate` and every build
    fail first, with exit 2. The spec model catches each known case with its line; this is the net."""
    from datetime import datetime, timezone

    from multicloud.runtime.scheduler import Cron, CronError
    from multicloud.runtime.server_config import ConfigError, parse_config

    # a broker address like the one the target gives, so the runtime's parser checks that section too
    broker = BrokerAccess(("nats://127.0.0.1:4222",), "env:MULTICLOUD_BROKER_PASSWORD")
    config = runtime_config(project, target, auth_key_ref=DEFAULT_AUTH_KEY_REF, broker=broker)
    try:
        parsed = parse_config(json.loads(json.dumps(config)), project.root)
        for schedule in parsed.schedules:
            if schedule.cron is not None:
                Cron(schedule.cron).next_after(datetime.now(timezone.utc))
    except (ConfigError, CronError) as exc:
        raise SpecError(f"the {target} runtime would refuse this service: {exc}",
                        fix="change the setting it names", where=str(project.spec_path)) from exc


def _requirements(project: Project) -> Path | None:
    path = project.requirements_file
    if path is not None and not path.is_file():
        raise SpecError("requirements file not found", fix="fix the `requirements` path",
                        where=project.locate(("requirements",)))
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
    broker: BrokerAccess | None = None,
    without_broker: bool = False,
) -> StagedArtifact:
    """Lay out runtime.json + app/ + deps/ in out_dir; unchanged inputs -> no rebuild.

    `pip_platforms` (e.g. ("manylinux2014_x86_64",)) installs wheels for another platform, as a
    container needs; empty means this machine's platform (the local target).
    """
    config = runtime_config(project, target, auth_key_ref=auth_key_ref, broker=broker, without_broker=without_broker)
    client = broker_client_files() if "broker" in config else {}
    config_bytes = (json.dumps(config, indent=2, sort_keys=True) + "\n").encode()
    files = artifact_files(project, private=True)
    requirements = _requirements(project)
    version = python_version or project.spec.python_version
    inputs: dict[str, Path | bytes] = {f"{APP_DIR}/{k}": v for k, v in files.items()}
    inputs[CONFIG_NAME] = config_bytes
    inputs["\0requirements"] = requirements_bytes(requirements) if requirements else b""
    inputs["\0pip"] = json.dumps([list(pip_platforms), version if pip_platforms else ""]).encode()
    inputs.update({f"\0client/{k}": v for k, v in client.items()})
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
    if requirements is not None and read_requirements(requirements):
        progress(f"{target}: installing dependencies from {requirements.name}")
        pip_install_target(requirements, deps_dir, python_version=version, platforms=pip_platforms)
    if client and (deps_dir / BROKER_CLIENT).is_dir():
        progress(f"{target}: the requirements install their own {BROKER_CLIENT} package; using it")
        client = {}
    for arc, src in client.items():
        dest = deps_dir / arc
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
    config_path.write_bytes(config_bytes)
    digest_path.write_text(digest + "\n")
    return StagedArtifact(out_dir, config_path, app_dir, deps_dir, digest, True, _size(out_dir))
