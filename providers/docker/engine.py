"""The Docker Engine connection and the labels that mark what multicloud owns on it.

`docker.from_env()` is the only way in: it honours `DOCKER_HOST` (unix, tcp, ssh), `DOCKER_TLS_VERIFY`
and `DOCKER_CERT_PATH` like every Docker SDK user expects; nothing here hard-wires an endpoint.
Everything multicloud creates carries `io.multicloud.*` labels, so status, remove and tests touch only
their own containers, images, networks, volumes and services.
"""

from __future__ import annotations

import json
import os
from typing import Any

from multicloud.errors import OperationError

MANAGED = "io.multicloud.managed"
SERVICE = "io.multicloud.service"
ROLE = "io.multicloud.role"  # function | gateway | secrets
DIGEST = "io.multicloud.digest"
RUN_CONFIG = "io.multicloud.run-config"  # hash of run-time settings (limits, user, replicas...)
PREVIOUS = "io.multicloud.previous"  # {"image", "digest"} JSON of the release the live one replaced
SLOT = "io.multicloud.slot"  # blue | green
SECRETS = "io.multicloud.secrets"  # fingerprint of the secret values a release was started with
INTERNAL_PORT = 8080


def client() -> Any:
    import docker
    from docker.errors import DockerException

    try:
        engine = docker.from_env(timeout=120)
        engine.ping()
    except DockerException as exc:
        where = os.environ.get("DOCKER_HOST", "the default socket (unix:///var/run/docker.sock)")
        fix = "start dockerd, or point DOCKER_HOST at a reachable engine (tcp://host:2376, ssh://user@host)"
        if "paramiko" in str(exc):  # docker-py's ssh:// transport lives in its `ssh` extra
            fix = "pip install 'docker[ssh]' (paramiko) for ssh:// engines, or use tcp:// with TLS"
        raise OperationError(f"cannot reach the Docker Engine at {where}: {exc}", fix=fix, where="docker") from exc
    return engine


def secrets_fingerprint(values: dict[str, str]) -> str:
    """16 hex digits of a sha256 over the secret names and values a release runs with, kept as a label so a
    redeploy sees a rotated value (the code's digest does not change). It reveals nothing useful about a
    real credential, and whoever can read labels on the engine can read the secrets volume anyway."""
    import hashlib

    digest = hashlib.sha256(b"multicloud-secrets-v1")
    for name, value in sorted(values.items()):
        digest.update(name.encode() + b"\0" + value.encode() + b"\0")
    return digest.hexdigest()[:16]


def same_secrets(labels: dict[str, str], values: dict[str, str]) -> bool:
    """Whether a release (by its labels) runs with these secret values; one from before the label: if none."""
    recorded = labels.get(SECRETS)
    return recorded == secrets_fingerprint(values) if recorded is not None else not values


def owned(service: str, role: str | None = None) -> dict[str, list[str]]:
    """A label filter for the resources of one service (and one role)."""
    labels = [f"{MANAGED}=true", f"{SERVICE}={service}"]
    if role:
        labels.append(f"{ROLE}={role}")
    return {"label": labels}


def labels_for(service: str, role: str, extra: dict[str, str] | None = None, **more: str) -> dict[str, str]:
    out = dict(extra or {})
    out.update({MANAGED: "true", SERVICE: service, ROLE: role})
    out.update({f"io.multicloud.{k}": v for k, v in more.items()})
    return out


def previous_release(live_labels: dict[str, str], live_image: str | None, digest: str) -> str | None:
    """The predecessor a new release of `digest` records (label PREVIOUS), so `rollback` from any checkout
    finds it on the engine: the live release if it differs, else what the live release recorded."""
    live_digest = live_labels.get(DIGEST)
    if live_digest and live_image and live_digest != digest:
        return json.dumps({"image": live_image, "digest": live_digest}, sort_keys=True)
    return live_labels.get(PREVIOUS)


def parse_release(value: str | None) -> dict[str, str] | None:
    try:
        data = json.loads(value or "")
    except ValueError:
        return None
    if isinstance(data, dict) and isinstance(data.get("image"), str) and isinstance(data.get("digest"), str):
        return {"image": data["image"], "digest": data["digest"]}
    return None


def local_engine() -> bool:
    """Whether the engine runs on this host (its published ports are this host's ports)."""
    host = os.environ.get("DOCKER_HOST", "")
    return not host or host.startswith("unix://")


def public_host(publish_host: str) -> str:
    """The host name clients use: the engine's host for a remote DOCKER_HOST, else the published address."""
    from urllib.parse import urlparse

    docker_host = os.environ.get("DOCKER_HOST", "")
    if docker_host.startswith(("tcp://", "ssh://", "http://", "https://")):
        remote = urlparse(docker_host).hostname
        if remote and publish_host in ("0.0.0.0", "::"):
            return remote
    return "127.0.0.1" if publish_host in ("0.0.0.0", "") else publish_host


def tar_of(files: dict[str, bytes], *, mode: int, uid: int = 0, gid: int = 0) -> bytes:
    """An in-memory tar of regular files (for `put_archive`), in name order, with a fixed mtime."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in sorted(files.items()):
            entry = tarfile.TarInfo(name)
            entry.size, entry.mode, entry.uid, entry.gid, entry.mtime = len(data), mode, uid, gid, 0
            tar.addfile(entry, io.BytesIO(data))
    return buf.getvalue()
