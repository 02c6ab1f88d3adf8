"""The secret values a local server starts with, read on the deploying host now, and their salted
fingerprint. `env:` values are handed to the supervisor in memory (never written); `file:` references are
read by the server itself, but their contents count too: a rotated file must restart the server."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from multicloud.errors import OperationError
from multicloud.project import Project


def secret_env(project: Project) -> dict[str, str]:
    """Values of `env:` references, read from this shell now and handed over in memory."""
    out: dict[str, str] = {}
    for fn in project.functions_for("local"):
        for name, ref in fn.secrets.items():
            scheme, _, locator = ref.partition(":")
            if scheme != "env":
                continue
            if locator not in os.environ:
                raise OperationError(
                    f"secret {name} of function {fn.name} references env:{locator}, which is not set",
                    fix=f"export {locator} in the shell that deploys",
                    where=f"functions.{fn.name}.secrets.{name}",
                )
            out[locator] = os.environ[locator]
    return out


def secrets_view(project: Project) -> dict[str, str]:
    """Every secret value the server will start with: `env:` values from this shell, and the contents of
    `file:` references."""
    view = {f"env:{k}": v for k, v in secret_env(project).items()}
    for fn in project.functions_for("local"):
        for ref in fn.secrets.values():
            scheme, _, locator = ref.partition(":")
            if scheme == "file":
                try:
                    view[ref] = Path(locator).expanduser().read_text()
                except OSError as exc:
                    view[ref] = f"<unreadable: {exc.strerror}>"  # the server will say so at start
    return view


def fingerprint(project: Project, salt: str) -> str:
    """Salted hash of the secret values; the supervisor keeps it in memory only (never on disk)."""
    return hashlib.sha256((salt + json.dumps(secrets_view(project), sort_keys=True)).encode()).hexdigest()
