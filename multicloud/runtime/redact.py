"""Secret values never reach the logs: each resolved value is registered here and masked as `***`.

`multicloud.runtime.secrets` registers every value it resolves (the functions' secrets, the auth key).
The runtime's logging points (`server_log.JsonLog`, the handler `Logger` in `context.py`, the handler
error path in `invoke.py`) pass what they write through `mask` / `mask_data`, so a value is masked in
every log line and error message, a handler's exception text and traceback included, as CI systems do.
Whoever replaces the HTTP server keeps this by logging through those same points. Once a value is
registered, `sys.stdout` and `sys.stderr` are wrapped too, so a handler's own `print` is masked.

The rule for short values: a value of MIN_CHARS (4) characters or more is masked wherever it appears, in
the forms it takes in a log line (as is, JSON-escaped, `repr`-escaped, URL-encoded). A shorter one is
masked only where it stands alone (not inside a longer word or number: masking every `a` of `ab` would
garble every line), and the runtime writes one warning naming the variable (never the value); `deploy`
warns too on the targets that see the value (local, docker). Empty values are never masked. Masking works
on text as written: a value split across two `write` calls (rare: `print` writes its text in one) is not
seen whole.
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

    return {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1], repr(value)[1:-1],
            quote(value, safe=""), quote(value)}


def too_short(value: str) -> bool:
    return 0 < len(value) < MIN_CHARS


def _alternative(form: str) -> str:
    """A form as a regex alternative: anywhere when long enough, else only where it stands alone."""
    if len(form) >= MIN_CHARS:
        return re.escape(form)
    return rf"(?<![A-Za-z0-9]){re.escape(form)}(?![A-Za-z0-9])"


def register(value: str, name: str = "") -> bool:
    """Mask `value` from now on (a short one only where it stands alone: False, and one warning naming
    `name`, say so). The empty string is never masked."""
    global _pattern
    if not value:
        return False
    short = too_short(value)
    if short and name and name not in _warned:
        _warned.add(name)
        sys.stderr.write(json.dumps({"level": "WARNING", "severity": "WARNING", "type": "server",
                                     "message": f"secret {name} is shorter than {MIN_CHARS} characters: it is "
                                                "masked in logs only where it stands alone"}) + "\n")
    with _lock:
        new = _variants(value) - _forms
        if new:
            _forms.update(new)
            ordered = sorted(_forms, key=len, reverse=True)  # the longest form first: no partial masks
            _pattern = re.compile("|".join(_alternative(f) for f in ordered))
    return not short


def current() -> re.Pattern[str] | None:
    """What `mask` masks with now (None: nothing registered); a new object whenever a value is added, so a
    cache of masked text can tell when it is stale."""
    return _pattern


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
