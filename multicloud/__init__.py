"""multicloud: one stateless function, described once, deployed to any cloud.

This module is vendored into every artifact together with `multicloud/runtime/`, so it must stay
stdlib-only and cheap to import: it only re-exports the handler-facing API.
"""

from multicloud.runtime import (
    BatchResult,
    Context,
    Event,
    Headers,
    HttpRequest,
    Logger,
    Message,
    Response,
    ScheduleInfo,
    StorageObject,
)

__version__ = "0.1.0"  # kept equal to pyproject's version (tests/unit/runtime checks it)

__all__ = [
    "BatchResult", "Context", "Event", "Headers", "HttpRequest", "Logger", "Message", "Response",
    "ScheduleInfo", "StorageObject", "__version__",
]
