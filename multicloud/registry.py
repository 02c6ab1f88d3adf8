"""Providers are found through the `multicloud.providers` entry-point group; no module-level registry.

The built-in targets are declared in our own pyproject, so a third party adds a target the same way.
Loading a provider imports only its light `__init__`; SDKs load inside its hooks. The group is read once
per process: scanning every installed distribution's metadata takes tens of milliseconds, and a
validate asks for each target's provider and capability row.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint, entry_points

from multicloud.errors import UsageError
from multicloud.provider import Provider

GROUP = "multicloud.providers"


@cache
def _group() -> tuple[EntryPoint, ...]:
    return tuple(entry_points(group=GROUP))


def available() -> list[str]:
    return sorted(ep.name for ep in _group())


def unknown_target(name: str, names: list[str]) -> UsageError:
    import difflib

    close = difflib.get_close_matches(name, names, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return UsageError(f"unknown target {name!r}", fix=f"{hint}targets: {', '.join(names)}")


def _entry_point(name: str) -> EntryPoint:
    matches = [ep for ep in _group() if ep.name == name]
    if not matches:
        raise unknown_target(name, available())
    return matches[0]


def provider_package(name: str) -> str:
    """The package a target's provider lives in (`multicloud.providers.aws`): its sibling modules
    (`capabilities`, `settings`) are found there without loading the provider class."""
    return _entry_point(name).module


def provider_class(name: str) -> type[Provider]:
    cls = _entry_point(name).load()
    if not (isinstance(cls, type) and issubclass(cls, Provider)):
        raise UsageError(f"entry point {name!r} in {GROUP} is not a multicloud Provider")
    return cls
