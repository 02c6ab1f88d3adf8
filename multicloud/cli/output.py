"""Everything the CLI shows: results as text or JSON, progress, errors. Nothing else prints.

Progress goes to stderr (a rich spinner on a terminal, plain lines in CI or when piped, nothing with
--quiet); results go to stdout, as one JSON document with `--output json`.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from multicloud.errors import MulticloudError


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty() and not in_ci()


class Output:
    def __init__(self, fmt: str = "text", quiet: bool = False) -> None:
        self.json = fmt == "json"
        self.quiet = quiet
        self._lock = threading.Lock()
        self._fancy = sys.stderr.isatty() and not in_ci() and not os.environ.get("NO_COLOR")

    # ---- results -----------------------------------------------------------------------------------
    def result(self, data: Any, text: str | None = None) -> None:
        if self.json:
            from multicloud.provider import to_jsonable

            sys.stdout.write(json.dumps(to_jsonable(data), indent=2, sort_keys=True) + "\n")
        elif text is not None:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()

    def error(self, exc: MulticloudError) -> None:
        if self.json:
            sys.stdout.write(json.dumps({"ok": False, "error": exc.to_dict()}, indent=2) + "\n")
            sys.stdout.flush()
            return
        label = {2: "error", 3: "unsupported"}.get(exc.exit_code, "failed")
        for line in exc.message.splitlines():
            sys.stderr.write(f"{label}: {line}\n")
        sys.stderr.flush()

    def warn(self, message: str) -> None:
        if not self.quiet:
            sys.stderr.write(f"warning: {message}\n")

    # ---- progress ----------------------------------------------------------------------------------
    def step(self, message: str) -> None:
        if self.quiet:
            return
        with self._lock:
            if self._fancy:
                from rich.console import Console

                Console(stderr=True, highlight=False).print(f"[dim]›[/dim] {message}")
            elif in_ci():  # CI logs are machine-read: one JSON object a line, no colour
                sys.stderr.write(json.dumps({"progress": message}) + "\n")
            else:
                sys.stderr.write(f"› {message}\n")
            sys.stderr.flush()

    def progress_for(self, prefix: str) -> Any:
        return lambda message: self.step(f"[{prefix}] {message}")

    @contextmanager
    def spinner(self, message: str) -> Iterator[None]:
        if self.quiet or not self._fancy:
            self.step(message)
            yield
            return
        from rich.console import Console

        with Console(stderr=True).status(message):
            yield
