"""build: `multicloud.private_runtime.stage_artifact` (code + vendored runtime + deps installed with pip
--target for this machine + runtime.json); unchanged inputs are not rebuilt. The key of `auth: key` routes
and the broker's credentials are made here, once, because the runtime's configuration references them."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from multicloud.broker.topology import topology
from multicloud.private_runtime import holds_key, stage_artifact
from multicloud.project import Project
from multicloud.provider import Artifact, BuildResult, Progress

from . import control
from .broker import broker_for
from .settings import LocalSettings


def build(project: Project, settings: LocalSettings, out_dir: Path, progress: Progress) -> BuildResult:
    key_ref = None
    if holds_key(project, "local"):  # `auth: key` routes, or the HTTP intake of queues and streams
        key_ref = f"file:{ensure_key(control.key_path(control.run_dir(project))).resolve()}"
    access = None if topology(project, "local").empty else broker_for(project, settings).prepare()
    staged = stage_artifact(project, "local", out_dir, progress, auth_key_ref=key_ref, broker=access)
    artifacts = tuple(Artifact(fn.name, out_dir, fn.handler, staged.size, staged.digest)
                      for fn in project.functions_for("local"))
    return BuildResult("local", out_dir, artifacts, staged.digest)


def ensure_key(path: Path) -> Path:
    """The key file, generated once (0600) and kept: redeploys do not lock callers out."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32) + "\n")
    return path
