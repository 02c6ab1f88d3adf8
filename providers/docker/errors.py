"""Docker SDK errors -> multicloud errors (exit 1 with what, where and a fix)."""

from __future__ import annotations

from multicloud.errors import MulticloudError, OperationError


def translate(exc: Exception) -> MulticloudError | None:
    """Docker SDK errors as OperationError (exit 1) with a fix; None for anything else."""
    try:
        from docker.errors import APIError, BuildError, DockerException, ImageNotFound
    except ImportError:  # pragma: no cover - the docker extra is not installed
        return None
    if isinstance(exc, ImageNotFound):
        return OperationError(f"image not found on the engine: {exc}",
                              fix="build it first, or run `multicloud docker base-image` for the base image",
                              where="docker")
    if isinstance(exc, BuildError):
        tail = "".join(str(line.get("stream", line.get("error", ""))) for line in list(exc.build_log)[-8:])
        return OperationError(f"image build failed: {exc.msg}\n{tail}".strip(),
                              fix="check the base image and the build log above", where="docker build")
    if isinstance(exc, APIError):
        return OperationError(f"the Docker Engine refused: {exc.explanation or exc}",
                              fix="see the engine's message; `docker info` shows the engine's state",
                              where="docker")
    if isinstance(exc, DockerException):
        return OperationError(f"Docker SDK error: {exc}", where="docker")
    return None
