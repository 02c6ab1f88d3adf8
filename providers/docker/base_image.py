"""`multicloud docker base-image` / `proxy-image`: air-gapped images made from Debian packages only.

(`debian_image` is also how `multicloud docker broker-image` builds the NATS image, broker_image.py.)

Private clouds often have a Debian mirror but no container registry. `debootstrap --variant=minbase
--include=python3` (or `haproxy`, for the gateway) builds a root filesystem from packages, and the engine's
image import (`docker import`, here through the Docker SDK so `DOCKER_HOST` is honoured) turns its tarball
into an image. No registry is contacted.

Honest limits: a Debian release ships exactly one python3. bookworm (Debian 12) ships 3.11, so 3.11 is
the only version this can build; any other version is refused with a fix instead of silently giving 3.11.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from multicloud.errors import OperationError, UnsupportedError
from multicloud.provider import Progress, no_progress

#: Debian release -> the python3 it ships (the only version debootstrap can give from it).
DEBIAN_PYTHON: dict[str, str] = {"bookworm": "3.11"}
DEFAULT_SUITE = "bookworm"
LABEL = "io.multicloud.base-image"
PROXY_LABEL = "io.multicloud.proxy-image"
#: The gateway's proxy from Debian: bookworm ships HAProxy 2.6 (LTS), the version the official image matches.
PROXY_TAG = "multicloud/haproxy:2.6-bookworm"
#: Optional mirror, e.g. an internal one in a private cloud (debootstrap's own default otherwise).
MIRROR_ENV = "MULTICLOUD_DEBIAN_MIRROR"


def suite_for(python_version: str) -> str:
    version = python_version.removeprefix("python").strip()
    if version.count(".") > 1:  # 3.11.2 -> 3.11
        version = ".".join(version.split(".")[:2])
    for suite, shipped in DEBIAN_PYTHON.items():
        if shipped == version:
            return suite
    offered = ", ".join(f"{v} ({s})" for s, v in DEBIAN_PYTHON.items())
    raise UnsupportedError(
        f"no Debian release known here ships Python {python_version}; debootstrap can give: {offered}",
        fix="use runtime python3.11 for air-gapped images, or set targets.docker.base_image to a "
        f"python:{version}-slim image from your own registry",
        where="multicloud docker base-image",
    )


def default_tag(python_version: str) -> str:
    version = python_version.removeprefix("python")
    version = ".".join(version.split(".")[:2])
    return f"multicloud/python:{version}-{suite_for(python_version)}"


def build_base_image(python_version: str, tag: str | None = None, progress: Progress = no_progress) -> str:
    """Build `multicloud/python:<X.Y>-bookworm` (or `tag`) with debootstrap + image import; return the tag."""
    suite = suite_for(python_version)
    tag = tag or default_tag(python_version)
    engine = debian_image(suite, ["python3"], tag, [
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "ENV LANG=C.UTF-8",
        'CMD ["python3"]',
        f"LABEL {LABEL}={suite}-python{DEBIAN_PYTHON[suite]}",
    ], progress, where="multicloud docker base-image")
    out = engine.containers.run(tag, ["python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                remove=True, network_disabled=True, labels={LABEL: "check"})
    got = out.decode().strip()
    if got != DEBIAN_PYTHON[suite]:
        raise OperationError(f"{tag} has Python {got}, expected {DEBIAN_PYTHON[suite]}",
                             where="multicloud docker base-image")
    return tag


def debian_image(suite: str, packages: list[str], tag: str, changes: list[str], progress: Progress, *,
                 where: str, prepare: Callable[[Path], None] | None = None) -> Any:
    """debootstrap `suite` minbase with `packages`, then import the root filesystem as `tag` with the given
    Dockerfile `changes`; `prepare(rootfs)` may adjust the tree first. Returns the engine client."""
    debootstrap = shutil.which("debootstrap") or next(
        (p for p in ("/usr/sbin/debootstrap", "/sbin/debootstrap") if os.path.exists(p)), None
    )
    if debootstrap is None:
        raise OperationError("debootstrap is not installed", fix="apt-get install -y debootstrap", where=where)
    if os.geteuid() != 0:
        raise OperationError("debootstrap needs root to build a root filesystem",
                             fix=f"run `{where}` as root (e.g. with sudo)", where=where)
    from .engine import client as docker_client

    engine = docker_client()
    with tempfile.TemporaryDirectory(prefix="multicloud-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        cmd = [debootstrap, "--variant=minbase", f"--include={','.join(packages)}", suite, str(rootfs)]
        if os.environ.get(MIRROR_ENV):
            cmd.append(os.environ[MIRROR_ENV])
        progress(f"debootstrap {suite} minbase + {', '.join(packages)} (about 40 s)")
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-5:])
            raise OperationError(
                f"debootstrap {suite} failed: {tail}",
                fix=f"check that a Debian mirror is reachable (set {MIRROR_ENV} to an internal one)",
                where=where,
            )
        # Leaner and reproducible-ish: no package caches, no apt lists, no logs.
        for sub in ("var/cache/apt/archives", "var/lib/apt/lists", "var/log"):
            for item in (rootfs / sub).glob("*"):
                if item.is_file() or item.is_symlink():
                    item.unlink()
        if prepare is not None:
            prepare(rootfs)
        tarball = Path(tmp) / "rootfs.tar"
        progress("packing the root filesystem")
        subprocess.run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(tarball), "."], check=True,
                       capture_output=True)
        repository, _, version_tag = tag.rpartition(":") if ":" in tag.split("/")[-1] else (tag, "", "latest")
        progress(f"importing as {tag}")
        engine.api.import_image_from_file(str(tarball), repository=repository, tag=version_tag, changes=changes)
    return engine


def build_proxy_image(tag: str | None = None, progress: Progress = no_progress) -> str:
    """Build `multicloud/haproxy:2.6-bookworm` (or `tag`): the docker gateway's HAProxy, from Debian packages."""
    tag = tag or PROXY_TAG
    engine = debian_image(DEFAULT_SUITE, ["haproxy"], tag, [
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "ENV LANG=C.UTF-8",
        'CMD ["haproxy", "-v"]',
        f"LABEL {PROXY_LABEL}={DEFAULT_SUITE}",
    ], progress, where="multicloud docker proxy-image")
    out = engine.containers.run(tag, ["haproxy", "-v"], remove=True, network_disabled=True,
                                labels={PROXY_LABEL: "check"})
    if b"HAProxy version" not in out:
        raise OperationError(f"{tag} does not run haproxy: {out[:200]!r}", where="multicloud docker proxy-image")
    return tag
