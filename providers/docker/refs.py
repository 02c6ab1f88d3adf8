"""Secret references of the docker target, resolved on the deploying host (`env:` and `file:`).

The value goes straight into the secrets volume of the container (`single.py`) or a Swarm secret
(`swarm.py`); it is never logged, labelled, baked into an image or written to the state file. Errors
name the reference, never the value.
"""

from __future__ import annotations

import os
from pathlib import Path

from multicloud.errors import OperationError


def resolve_host_ref(ref: str, name: str) -> str:
    scheme, _, locator = ref.partition(":")
    if scheme == "env":
        value = os.environ.get(locator)
        if value is None:
            raise OperationError(f"secret {name}: reference env:{locator} is not set on the deploying host",
                                 fix=f"export {locator}=... before deploying (or use file:/path)",
                                 where=f"secrets.{name}")
        return value
    if scheme == "file":
        try:
            return Path(locator).expanduser().read_text().strip()
        except OSError as exc:
            raise OperationError(f"secret {name}: cannot read {locator} ({exc.strerror})",
                                 fix="check the path and its permissions", where=f"secrets.{name}") from exc
    raise OperationError(f"secret {name}: the docker target resolves env: and file: references, not {scheme}:",
                         fix=f"give a docker reference, e.g. {name}: {{docker: env:{name}}}",
                         where=f"secrets.{name}")
