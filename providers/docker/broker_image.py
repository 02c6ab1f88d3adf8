"""The broker's image: the official `nats` image where a registry is reachable, or one built here from
Debian packages for air-gapped engines (`multicloud docker broker-image`, like the Python base image).

Both run the same way: the image's entry point is nats-server and the container's command is only its
arguments (`-c <config>`), so `targets.docker.broker_image` may name either. The Debian image carries
`/data` owned by the unprivileged user (65534), so a fresh named volume mounted there is writable by it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from multicloud.errors import OperationError
from multicloud.provider import Progress, no_progress

from .base_image import DEFAULT_SUITE, debian_image

DEFAULT_TAG = f"multicloud/nats:{DEFAULT_SUITE}"
LABEL = "io.multicloud.broker-image"
DATA_UID = 65534


def build_broker_image(tag: str | None = None, progress: Progress = no_progress) -> str:
    """debootstrap bookworm minbase + nats-server (2.9.x), imported as `multicloud/nats:bookworm`."""
    tag = tag or DEFAULT_TAG

    def prepare(rootfs: Path) -> None:
        import os

        data = rootfs / "data"
        data.mkdir(exist_ok=True)
        os.chown(data, DATA_UID, DATA_UID)
        data.chmod(0o700)

    engine = debian_image(DEFAULT_SUITE, ["nats-server"], tag, [
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        'ENTRYPOINT ["/usr/sbin/nats-server"]',
        f"USER {DATA_UID}:{DATA_UID}",
        f"LABEL {LABEL}={DEFAULT_SUITE}",
    ], progress, where="multicloud docker broker-image", prepare=prepare)
    out = engine.containers.run(tag, ["--version"], remove=True, network_disabled=True, labels={LABEL: "check"})
    if b"nats-server" not in out:
        raise OperationError(f"{tag} does not run nats-server: {out[:200]!r}", where="multicloud docker broker-image")
    return tag


def ensure_image(client: Any, image: str, progress: Progress) -> None:
    """The image on the engine: there already, or pulled (with progress). Without a registry, say how to build
    the air-gapped one."""
    from docker.errors import APIError, ImageNotFound

    try:
        client.images.get(image)
        return
    except ImageNotFound:
        pass
    if image.startswith("multicloud/"):  # built here from Debian packages, never in a registry
        raise OperationError(f"the broker image {image} is not on the engine (it is built, not pulled)",
                             fix="run `multicloud docker broker-image` (or `docker load` the image onto the engine)",
                             where="targets.docker.broker_image")
    repository, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "latest")
    progress(f"pulling {image}")
    try:
        last = ""
        for line in client.api.pull(repository, tag=tag, stream=True, decode=True):
            status = f"{line.get('status', '')} {line.get('progress', '')}".strip()
            if status and status != last and "Downloading" not in status and "Extracting" not in status:
                progress(f"{image}: {status}")
                last = status
            if "error" in line:
                raise OperationError(str(line["error"]))
        client.images.get(image)
    except (APIError, ImageNotFound, OperationError) as exc:
        raise OperationError(
            f"the broker image {image} is not on the engine and cannot be pulled: {exc}",
            fix=f"on an engine without a registry, build it from Debian packages: `multicloud docker broker-image` "
            f"and set targets.docker.broker_image: {DEFAULT_TAG}",
            where="targets.docker.broker_image") from exc
