"""Secret values never reach the logs: each resolved value is registered here and masked as `***`.

`multicloud.runtime.secrets` registers every value it resolves (the functions' secrets, the auth key).
The runtime's logging points (`server_log.JsonLog`, the handler `Logger` in `context.py`, the handler
error path in `invoke.py`) pass what they write through `mask` / `mask_data`, so a value is masked in
every log line and error message, a handler's exception text and traceback included, as CI systems do.
Whoever replaces the HTTP server keeps this by logging through those same points. Once a value is
registered, `sys.stdout` and `sys.stderr` are wrapped too, so a handler's own `print` is masked.

The rule for short values: a value is masked wherever it appears, in the forms it takes in a log line
(as is, JSON-escaped, `repr`-escaped, URL-encoded). Values shorter than MIN_CHARS (4) are *not* masked:
masking `1` or `ab` would garble every line while hiding nothing a guess would not find; the runtime
writes one warning naming the variable (never the value), and `deploy` warns on the targets that see the
value (local, docker). Empty values are never masked. Masking works on text as written: a value split
across two `write` calls (rare: `print` writes its text in one) is not seen whole.
"""

from __future__ import annotations

import json
import re
import sys
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

MASK = "***"
MIN_CHARS = 4
_lock = threading.Lock()
_forms: set[str] = set()
_pattern: re.Pattern[str] | None = None
_warned: set[str] = set()


def _variants(value: str) -> set[str]:
    from urllib.parse import quote

    forms = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1], repr(value)[1:-1],
             quote(value, safe=""), quote(value)}
    return {f for f in forms if len(f) >= MIN_CHARS}


def too_short(value: str) -> bool:
    return 0 < len(value) < MIN_CHARS


def register(value: str, name: str = "") -> bool:
    """Mask `value` from now on; False (and one warning naming `name`) when it is too short to mask."""
    global _pattern
    if not value:
        return False
    if too_short(value):
        if name and name not in _warned:
            _warned.add(name)
            sys.stderr.write(json.dumps({"level": "WARNING", "severity": "WARNING", "type": "server",
                                         "message": f"secret {name} is shorter than {MIN_CHARS} characters: "
                                                    "it is not masked in logs"}) + "\n")
        return False
    with _lock:
        new = _variants(value) - _forms
        if new:
            _forms.update(new)
            _pattern = re.compile("|".join(re.escape(f) for f in sorted(_forms, key=len, reverse=True)))
    return True


def mask(text: str) -> str:
    """`text` with every registered value replaced by `***`."""
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub(MASK, text)


def mask_data(value: object) -> object:
    """A log record with every string masked (numbers, booleans and None kept: the JSON stays valid)."""
    if _pattern is None:
        return value
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {mask(str(k)): mask_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_data(v) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return mask(str(value))


def reset() -> None:
    """Forget every value (tests; a process serves one set of secrets)."""
    global _pattern
    with _lock:
        _forms.clear()
        _pattern = None
        _warned.clear()


class MaskedStream:
    """A text stream that masks what is written through it; everything else goes to the wrapped stream."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(mask(text))
        return len(text)

    def writelines(self, lines: list[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


def mask_streams() -> None:
    """Wrap sys.stdout and sys.stderr (once) so a handler's own prints are masked too."""
    if not isinstance(sys.stdout, MaskedStream):
        sys.stdout = MaskedStream(sys.stdout)  # type: ignore[assignment]
    if not isinstance(sys.stderr, MaskedStream):
        sys.stderr = MaskedStream(sys.stderr)  # type: ignore[assignment]
