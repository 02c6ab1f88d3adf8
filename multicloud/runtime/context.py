"""What a handler gets besides the event: identity, time budget, a structured logger and scratch space.

The stateless contract: `scratch_dir` is a fresh, private directory for one invocation. It is created
on first use and removed when the invocation ends (`Context.close`, called by `invoke`); even when
removal fails nothing there outlives the execution environment, and instances never share it.
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from typing import TextIO

LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}


def _level_from_env() -> int:
    return LEVELS.get(os.environ.get("MULTICLOUD_LOG_LEVEL", "INFO").upper(), 20)


class Logger:
    """One JSON object per line: time, level (and GCP's `severity`), message, function, request id.

    Extra keyword fields are added as they are (made JSON-safe with `str`). Writes to stderr, which every
    platform collects; never logs the environment, and masks resolved secret values (`redact`).
    """

    __slots__ = ("fields", "stream", "level")

    def __init__(self, stream: TextIO | None = None, level: int | None = None, **fields: object) -> None:
        self.fields = fields
        self.stream = stream
        self.level = _level_from_env() if level is None else level

    def bind(self, **fields: object) -> Logger:
        """A logger that adds these fields to every line."""
        return Logger(self.stream, self.level, **{**self.fields, **fields})

    def log(self, level: str, message: str, **fields: object) -> None:
        if LEVELS.get(level, 20) < self.level:
            return
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
        record: dict[str, object] = {"time": stamp, "level": level, "severity": level, "message": message}
        record.update(self.fields)
        record.update(fields)
        import json  # lazily, like everywhere in the runtime: json pulls in re

        from multicloud.runtime.redact import mask_data

        line = json.dumps(mask_data(record), default=str, ensure_ascii=False)  # secret values as ***
        stream = self.stream or sys.stderr
        stream.write(line + "\n")
        stream.flush()

    def debug(self, message: str, **fields: object) -> None:
        self.log("DEBUG", message, **fields)

    def info(self, message: str, **fields: object) -> None:
        self.log("INFO", message, **fields)

    def warning(self, message: str, **fields: object) -> None:
        self.log("WARNING", message, **fields)

    def error(self, message: str, **fields: object) -> None:
        self.log("ERROR", message, **fields)

    def exception(self, message: str, exc: BaseException | None = None, **fields: object) -> None:
        """ERROR with the traceback of `exc` (or of the exception being handled) in `traceback`."""
        import traceback

        if exc is None:
            exc = sys.exc_info()[1]
        if exc is not None:
            fields["error_type"] = type(exc).__name__
            fields["traceback"] = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.log("ERROR", message, **fields)


def scratch_root() -> str:
    """/tmp on Lambda, Cloud Functions and the private runtime; the platform temp dir elsewhere."""
    return os.environ.get("MULTICLOUD_SCRATCH_ROOT") or os.environ.get("TMPDIR") or (
        "/tmp" if os.name == "posix" else os.environ.get("TEMP", ".")
    )


class Context:
    """The invocation context every shim builds."""

    __slots__ = ("function_name", "request_id", "target", "memory_limit_mb", "_base_logger", "_logger",
                 "_deadline", "_remaining", "_scratch")

    def __init__(
        self,
        function_name: str,
        request_id: str,
        target: str,
        *,
        memory_limit_mb: int | None = None,
        timeout_ms: int | None = None,
        remaining: Callable[[], int] | None = None,
        logger: Logger | None = None,
        deadline: float | None = None,
    ) -> None:
        """`timeout_ms` from now, or a `deadline` on time.monotonic() (the private runtime's, set at arrival),
        or a `remaining` callable (a platform's own clock): what `remaining_time_ms` reports."""
        self.function_name = function_name
        self.request_id = request_id
        self.target = target
        self.memory_limit_mb = memory_limit_mb
        self._remaining = remaining
        self._deadline = time.monotonic() + timeout_ms / 1000 if timeout_ms else deadline
        self._base_logger = logger
        self._logger: Logger | None = None
        self._scratch: Path | None = None

    @property
    def logger(self) -> Logger:
        """A structured logger bound to this function and request (made on first use)."""
        if self._logger is None:
            self._logger = (self._base_logger or Logger()).bind(function=self.function_name,
                                                                 request_id=self.request_id, target=self.target)
        return self._logger

    @logger.setter
    def logger(self, value: Logger) -> None:
        self._logger = value

    def remaining_time_ms(self) -> int | None:
        """Milliseconds left before the platform stops this invocation (None when it sets no limit)."""
        if self._remaining is not None:
            return int(self._remaining())
        if self._deadline is None:
            return None
        return max(0, int((self._deadline - time.monotonic()) * 1000))

    @property
    def scratch_dir(self) -> Path:
        """A private directory for this invocation only: created on first use, removed at its end."""
        if self._scratch is None:
            from pathlib import Path

            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.request_id)[:80] or "req"
            path = Path(scratch_root()) / "multicloud-scratch" / f"{safe}-{os.getpid()}-{id(self):x}"
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._scratch = path
        return self._scratch

    def close(self) -> None:
        """End of the invocation: remove the scratch directory if it was used."""
        if self._scratch is not None:
            import shutil

            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def __repr__(self) -> str:
        return f"Context({self.target}:{self.function_name}, request_id={self.request_id!r})"
