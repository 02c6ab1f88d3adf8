"""Suite-wide: the runtime's secret masking is process-global (multicloud.runtime.redact), so a test that
resolves secrets in this process must not leave its values masked, or its streams wrapped, for the next."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _forget_masked_secrets() -> Iterator[None]:
    yield
    from multicloud.runtime import redact

    redact.reset()
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if isinstance(stream, redact.MaskedStream):
            setattr(sys, name, stream._stream)
