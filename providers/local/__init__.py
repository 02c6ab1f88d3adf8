"""The `local` target (work in progress: unimplemented hooks answer 'unsupported', exit 3)."""

from __future__ import annotations

from multicloud.provider import Provider


class LocalProvider(Provider):
    name = "local"
