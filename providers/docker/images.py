"""Images the docker target runs but does not build: on the engine already, or pulled, as every Docker user
expects. The one pull helper of the target: the Python base image, the gateway's proxy and the broker.

`ensure_image(client, ref, progress, build_command=..., setting=...)` returns at once when the engine has
`ref`; otherwise it pulls it through the engine (so `DOCKER_HOST`, the engine's registry mirrors,
credentials and insecure-registry settings all apply), reporting progress at most once a second: bytes
and layers done. Only when the pull fails (no registry reachable, unknown image, refused) does the error
point to the air-gapped route: the command that builds the image from Debian packages
(`multicloud docker base-image`, `proxy-image`, `broker-image`) and the setting that names it. Images
named `multicloud/...` are those commands' own: no registry has them, so they are never pulled and a
missing one is named with its command at once.

`lock_image(client)` is the image of the deploy-lock container: an empty image imported from an empty
tar, so taking the lock never needs a registry or the base image (the lock container is created, never
started).
"""

from __future__ import annotations

import time
from typing import Any

from multicloud.errors import OperationError
from multicloud.provider import Progress, no_progress

REPORT_EVERY_S = 1.0
LOCK_IMAGE = "multicloud/lock:1"


def _repository_tag(ref: str) -> tuple[str, str | None]:
    from docker.utils import parse_repository_tag

    repository, tag = parse_repository_tag(ref)
    if tag is None and "@" not in ref:
        tag = "latest"
    return repository, tag


class _PullProgress:
    """Folds the engine's per-layer pull stream into one line a second."""

    def __init__(self, ref: str, progress: Progress) -> None:
        self.ref = ref
        self.progress = progress
        self.layers: dict[str, tuple[int, int]] = {}  # id -> (downloaded bytes, total bytes)
        self.done: set[str] = set()
        self.last = 0.0

    def feed(self, chunk: dict[str, Any]) -> None:
        layer, status = str(chunk.get("id", "")), str(chunk.get("status", ""))
        detail = chunk.get("progressDetail") or {}
        if status == "Downloading" and detail.get("total"):
            self.layers[layer] = (int(detail.get("current", 0)), int(detail["total"]))
        elif status in ("Download complete", "Pull complete", "Already exists"):
            self.done.add(layer)
            if layer in self.layers:
                total = self.layers[layer][1]
                self.layers[layer] = (total, total)
        now = time.monotonic()
        if now - self.last >= REPORT_EVERY_S and (self.layers or self.done):
            self.last = now
            self.progress(self.line())

    def line(self) -> str:
        current = sum(c for c, _ in self.layers.values()) / 2**20
        total = sum(t for _, t in self.layers.values()) / 2**20
        seen = len(set(self.layers) | self.done)
        return f"pulling {self.ref}: {current:.1f} of {total:.1f} MB, {len(self.done)} of {seen} layer(s) done"


def _has(client: Any, ref: str) -> bool:
    from docker.errors import ImageNotFound

    try:
        client.images.get(ref)
    except ImageNotFound:
        return False
    return True


BUILT_HERE = "multicloud/"  # the prefix of the images the `multicloud docker ...-image` commands build


def ensure_image(client: Any, ref: str, progress: Progress = no_progress, *, build_command: str,
                 setting: str) -> None:
    """Make sure the engine has `ref`, pulling it (with progress) when it does not. `build_command` builds
    the air-gapped image and `setting` (e.g. targets.docker.base_image) names the image to use."""
    from docker.errors import APIError

    if _has(client, ref):
        return
    if ref.startswith(BUILT_HERE):
        raise OperationError(f"image {ref} is not on the engine (it is built from Debian packages, not pulled)",
                             fix=f"run `{build_command}` (or `docker load` the image onto the engine)", where=setting)
    repository, tag = _repository_tag(ref)
    progress(f"{ref} is not on the engine: pulling it")
    watcher = _PullProgress(ref, progress)
    started = time.monotonic()
    error: str | None = None
    try:
        for chunk in client.api.pull(repository, tag=tag, stream=True, decode=True):
            if "error" in chunk:
                error = str(chunk.get("error") or chunk.get("errorDetail"))
                break
            watcher.feed(chunk)
    except APIError as exc:
        error = str(exc.explanation or exc)
    if error is None and not _has(client, ref):
        error = "the engine reported no error but does not have the image afterwards"
    if error is not None:
        raise OperationError(
            f"{ref} is not on the engine and pulling it failed: {error.strip()}",
            fix=f"check the image name and that the engine can reach its registry (`docker pull {ref}`); "
                f"on an engine without a registry (air-gapped): build the image from Debian packages with "
                f"`{build_command}` and set {setting} to the tag it prints, or `docker load` the image onto the engine",
            where=setting,
        )
    progress(f"pulled {ref} in {time.monotonic() - started:.1f} s")


def lock_image(client: Any, labels: dict[str, str]) -> str:
    """The empty image lock containers are created from (imported once per engine, a few bytes)."""
    import io
    import tarfile

    if _has(client, LOCK_IMAGE):
        return LOCK_IMAGE
    empty = io.BytesIO()
    with tarfile.open(fileobj=empty, mode="w"):
        pass
    repository, _, tag = LOCK_IMAGE.rpartition(":")
    changes = [f"LABEL {key}={value}" for key, value in sorted(labels.items())]
    client.api.import_image_from_data(empty.getvalue(), repository=repository, tag=tag, changes=changes)
    return LOCK_IMAGE
