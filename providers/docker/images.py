"""Images the docker target runs but does not build: present on the engine, or pulled (with progress).

Every Docker user expects a missing image to be pulled. Images named `multicloud/...` come from no
registry (they are built here from Debian packages), so they are never pulled; for any other, a failed
pull (no registry reachable, an air-gapped engine) ends in an error that names the air-gapped build command.
"""

from __future__ import annotations

import time
from typing import Any

from multicloud.errors import OperationError
from multicloud.provider import Progress

PROGRESS_EVERY = 2.0  # seconds between progress lines while layers download


def ensure_image(client: Any, ref: str, progress: Progress, *, build_command: str, setting: str) -> None:
    """`ref` is on the engine when this returns; pulled if it can be. OperationError names the way out."""
    from docker.errors import DockerException, ImageNotFound

    try:
        client.images.get(ref)
        return
    except ImageNotFound:
        pass
    air_gapped = f"for an engine without a registry, run `{build_command}` and set {setting} to the image it builds"
    if ref.startswith("multicloud/"):
        raise OperationError(f"image {ref} is not on the engine (it is built here, not pulled)",
                             fix=f"run `{build_command}`, or `docker load` the image onto the engine", where=setting)
    repository, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "latest")
    progress(f"pulling {repository}:{tag}")
    last = time.monotonic()
    layers: dict[str, str] = {}
    try:
        for event in client.api.pull(repository, tag=tag, stream=True, decode=True):
            if "error" in event:
                raise OperationError(f"pulling {ref} failed: {event['error']}", fix=air_gapped, where=setting)
            if event.get("id") and event.get("status"):
                layers[str(event["id"])] = str(event["status"])
            if time.monotonic() - last > PROGRESS_EVERY:
                done = sum(1 for s in layers.values() if s in ("Pull complete", "Already exists"))
                progress(f"pulling {ref}: {done}/{len(layers)} layers")
                last = time.monotonic()
        client.images.get(ref)
    except DockerException as exc:
        raise OperationError(f"pulling {ref} failed: {exc}", fix=air_gapped, where=setting) from exc
    progress(f"pulled {ref}")
