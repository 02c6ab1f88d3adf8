"""Built-in targets, installed as `multicloud.providers`; found through entry points."""

from __future__ import annotations

from importlib import import_module
from types import ModuleType


def __getattr__(name: str) -> ModuleType:
    """A target's package on first attribute access. The spec loads `<target>/settings.py` on its own,
    without its package (multicloud/spec/targets.py says why), and `import
    multicloud.providers.aws.settings as s` walks attributes from here, so the package is imported then."""
    if name.startswith("__"):
        raise AttributeError(name)
    try:
        return import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no target {name!r}") from exc
