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


def ensure_broker_image(client: Any, image: str, progress: Progress) -> None:
    """The broker image on the engine: there already, or pulled (images.ensure_image)."""
    from .images import ensure_image

    ensure_image(client, image, progress, build_command="multicloud docker broker-image",
                 setting="targets.docker.broker_image")
