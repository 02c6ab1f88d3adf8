"""The portable runtime: stdlib-only code vendored into every artifact.

A handler is `def handler(event, context)`; `event` is an `Event` (CloudEvents 1.0 plus typed views),
`context` a `Context`. The per-cloud shims (`aws`, `azure`, `gcp`) and the private server turn each
platform's payloads into these and back; see docs/runtime.md.
"""

from multicloud.runtime.context import Context, Logger
from multicloud.runtime.events import BatchResult, Event, Message, ScheduleInfo, StorageObject
from multicloud.runtime.http import Headers, HttpRequest, HttpResult, Response

__all__ = [
    "BatchResult", "Context", "Event", "Headers", "HttpRequest", "HttpResult", "Logger", "Message",
    "Response", "ScheduleInfo", "StorageObject",
]
