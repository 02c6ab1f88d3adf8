"""The `docker` target (work in progress: unimplemented hooks answer 'unsupported', exit 3)."""

from __future__ import annotations

from multicloud.provider import Provider


class DockerProvider(Provider):
    name = "docker"
