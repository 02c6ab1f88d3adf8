"""A local cache of what was deployed, per target: `.multicloud/state/<target>.json` beside the spec.

It is only a cache. Providers read the truth back from the target where the target can tell (tags,
labels, the engine); this file speeds things up and remembers local-only facts such as the port of a
`local` deployment. Never write secret values here.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from multicloud.project import Project


def state_dir(project: Project) -> Path:
    return project.root / ".multicloud" / "state"


def build_dir(project: Project, target: str) -> Path:
    return project.root / ".multicloud" / "build" / target


def read_state(project: Project, target: str) -> dict[str, Any]:
    path = state_dir(project) / f"{target}.json"
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def write_state(project: Project, target: str, data: dict[str, Any]) -> None:
    path = state_dir(project) / f"{target}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def clear_state(project: Project, target: str) -> None:
    (state_dir(project) / f"{target}.json").unlink(missing_ok=True)


def deployer() -> str:
    """Who deploys: `MULTICLOUD_DEPLOYER` when set (CI sets it to the pipeline's actor), else user@host."""
    import getpass
    import socket

    named = os.environ.get("MULTICLOUD_DEPLOYER", "").strip()
    if named:
        return named
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return f"{user}@{socket.gethostname()}"


def record_deploy(project: Project, target: str, operation: str, version: str) -> None:
    """Remember when, by whom and with what operation this checkout last changed what runs on `target`
    (`.multicloud/state/<target>.last-deploy.json`; read by the dashboard). A record of this checkout only:
    a deploy from another machine is not in it."""
    path = state_dir(project) / f"{target}.last-deploy.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "by": deployer(),
                               "operation": operation, "version": version}, sort_keys=True) + "\n")
    os.replace(tmp, path)


def last_deploy(project: Project, target: str) -> dict[str, str]:
    try:
        data = json.loads((state_dir(project) / f"{target}.last-deploy.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
