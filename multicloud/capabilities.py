"""What each target can do, as data: trigger kinds and limits, with where each number comes from.

Each target's row lives with its provider (`providers/<t>/capabilities.py`, a `LIMITS` constant); this
module defines the row's shape and assembles the table, loading rows only when asked (a provider's
package imports the core, so the core cannot import the providers at module level).

`check(project, target)` turns a spec that asks for more than a target offers into located errors
(exit 2), so `multicloud validate --target T` fails before anything is built or deployed.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module

from multicloud.errors import UsageError
from multicloud.spec.models import TRIGGER_KINDS, TriggerKind
from multicloud.spec.targets import BUILT_IN

MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    triggers: frozenset[TriggerKind]
    memory_mb: tuple[int, int]
    max_timeout_s: int
    max_http_timeout_s: int
    payload_bytes: int
    package_bytes: int
    unzipped_bytes: int | None
    secret_schemes: frozenset[str]
    trigger_services: dict[str, str]
    notes: str


ALL_TRIGGERS: frozenset[TriggerKind] = frozenset(TRIGGER_KINDS)



def limits(target: str) -> Limits:
    """The target's row: `LIMITS` in the `capabilities` module next to its provider (providers/<t>/), found
    through the provider's entry point. Imports the provider's light `__init__`, never its SDK."""
    from multicloud.registry import provider_package  # registry -> provider -> project -> spec.checks -> here

    module = import_module(f"{provider_package(target)}.capabilities")
    row = getattr(module, "LIMITS", None)
    if not isinstance(row, Limits):
        raise UsageError(f"target {target!r} declares no capability row",
                         fix=f"define LIMITS = multicloud.capabilities.Limits(...) in {module.__name__}")
    return row


def table() -> dict[str, Limits]:
    """Every registered target's row: the built-in ones first, in the spec's order, then any others."""
    from multicloud.registry import available

    names = [t for t in BUILT_IN if t in available()] + [t for t in available() if t not in BUILT_IN]
    return {t: limits(t) for t in names}
