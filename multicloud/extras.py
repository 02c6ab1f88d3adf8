"""Which pip extra brings each target's SDK, and the error a missing one gives (exit 3, never a traceback).

`pip install multicloud` carries no cloud SDK; `multicloud[aws]`, `[azure]`, `[gcp]` and `[docker]` add
them (pyproject's optional dependencies). A provider declares its extra (`Provider.extra`); before an
operation that talks to the cloud it asks `missing_module(extra)`, which only *finds* the modules
(importlib.util.find_spec, no import), so the check costs a few stat calls. Anything that still hits a
missing SDK module later (a helper command, a library caller) is mapped by `error_for` from the
ModuleNotFoundError's module name.
"""

from __future__ import annotations

import sys
from importlib.util import find_spec

from multicloud.errors import UnsupportedError

#: extra -> (what it is, the modules that must be importable)
EXTRAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "aws": ("the AWS SDK (boto3)", ("boto3", "botocore")),
    "azure": ("the Azure SDK (azure-identity, azure-mgmt-*, azure-eventhub)",
              ("azure.identity", "azure.mgmt.web", "azure.mgmt.storage", "azure.mgmt.resource",
               "azure.mgmt.eventhub", "azure.eventhub", "requests")),
    "gcp": ("the Google Cloud SDK (google-cloud-functions, google-cloud-scheduler)",
            ("google.cloud.functions_v2", "google.cloud.scheduler_v1", "google.auth", "requests")),
    "docker": ("the Docker SDK (docker)", ("docker",)),
}
#: top-level module -> extra, for mapping a ModuleNotFoundError raised anywhere
_BY_TOP = {"boto3": "aws", "botocore": "aws", "azure": "azure", "google": "gcp", "docker": "docker",
           "paramiko": "docker"}


def _importable(module: str) -> bool:
    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):  # a missing parent package raises instead of returning None
        return False


def missing_module(extra: str) -> str | None:
    """The first module of `extra` that cannot be imported here, or None when the extra is installed."""
    return next((m for m in EXTRAS[extra][1] if not _importable(m)), None)


def missing_extra(extra: str, target: str, module: str) -> UnsupportedError:
    what = EXTRAS[extra][0]
    return UnsupportedError(
        f"the {target} target needs {what}, which is not installed in this Python environment "
        f"(no module named {module!r}; {sys.executable})",
        fix=f"pip install 'multicloud[{extra}]' (or 'multicloud[all]' for every target), then run the command again",
    )


def require(extra: str, target: str) -> None:
    """Raise the exit-3 error naming the extra when its SDK is not installed."""
    module = missing_module(extra)
    if module is not None:
        raise missing_extra(extra, target, module)


def error_for(exc: ModuleNotFoundError, target: str | None = None) -> UnsupportedError | None:
    """A missing cloud SDK module as the exit-3 error naming its extra; None for any other module."""
    name = exc.name or ""
    extra = _BY_TOP.get(name.split(".", 1)[0])
    if name == "requests" and target in ("azure", "gcp"):
        extra = target
    if extra is None:
        return None
    return missing_extra(extra, target or extra, name)
