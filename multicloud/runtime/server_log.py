"""Structured JSON logs of the private runtime: one object per line on stdout.

Access lines are buffered and written in batches (at most 50 ms late, or every 256 lines) so logging
does not cost a system call per request; `flush()` runs on shutdown. Paths are logged without their
query string (it may carry tokens) and header values are never logged.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import TextIO

FLUSH_LINES = 256
FLUSH_DELAY = 0.05


def stamp(now: float | None = None) -> str:
    now = time.time() if now is None else now
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


class JsonLog:
    def __init__(self, stream: TextIO | None = None, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.stream = stream or sys.stdout
        self.loop = loop
        self._lines: list[str] = []
        self._armed = False

    def write(self, record: dict[str, object]) -> None:
        record = {"time": stamp(), **record}
        self._lines.append(json.dumps(record, default=str, ensure_ascii=False))
        if len(self._lines) >= FLUSH_LINES or self.loop is None:
            self.flush()
        elif not self._armed:
            self._armed = True
            self.loop.call_later(FLUSH_DELAY, self.flush)

    def event(self, message: str, level: str = "INFO", **fields: object) -> None:
        """A lifecycle line (listening, draining, schedule skipped...), written at once."""
        self.write({"level": level, "severity": level, "type": "server", "message": message, **fields})
        self.flush()

    def flush(self) -> None:
        self._armed = False
        if not self._lines:
            return
        data = "\n".join(self._lines) + "\n"
        self._lines.clear()
        try:
            self.stream.write(data)
            self.stream.flush()
        except (OSError, ValueError):
            pass  # a closed or full log stream must not take the server down
