"""Per-target settings under the spec's `targets:` key. Each model lives with its provider, in
`providers/<target>/settings.py` (installed as `multicloud.providers.<target>.settings`).

A target listed here is deployed by default (`multicloud deploy` with no `--target`); absent targets
can still be named on the command line and then use their defaults.

Why the settings modules are loaded from their files: the spec model needs the five models when it is
defined, but importing `multicloud.providers.<target>` runs the provider's `__init__`, which needs the spec
model (Provider -> Project -> Spec), a cycle. `settings_module` therefore loads only `settings.py`, under
its package name, so the provider's own `from .settings import ...` later finds that same module (same
classes) in `sys.modules`. A settings module imports pydantic and `multicloud.spec.types` only, never a
cloud SDK nor its own package (tests/unit/test_provider_shape.py checks both).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, field_validator

PACKAGE = "multicloud.providers"  # providers/, mapped by pyproject's package-dir
#: The built-in targets, in the order the schema, `capabilities` and help texts list them, with the name
#: of each one's settings model in `providers/<target>/settings.py`.
BUILT_IN: dict[str, str] = {
    "aws": "AwsSettings", "azure": "AzureSettings", "gcp": "GcpSettings", "docker": "DockerSettings",
    "local": "LocalSettings",
}


def settings_module(target: str) -> ModuleType:
    """`multicloud.providers.<target>.settings`, loaded without running the provider's `__init__`."""
    name = f"{PACKAGE}.{target}.settings"
    loaded = sys.modules.get(name)
    if loaded is not None:
        return loaded
    folders = [Path(d) for d in importlib.import_module(PACKAGE).__path__]  # an __init__ with a docstring only
    path = next((d / target / "settings.py" for d in folders if (d / target / "settings.py").is_file()), None)
    spec = importlib.util.spec_from_file_location(name, path) if path else None
    if spec is None or spec.loader is None:
        raise ImportError(f"no settings module for target {target!r} in {folders}", name=name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def settings_class(target: str) -> type[BaseModel]:
    model = getattr(settings_module(target), BUILT_IN[target])
    assert isinstance(model, type) and issubclass(model, BaseModel)
    return model


if TYPE_CHECKING:  # mypy reads providers/ as the top-level package `providers` (no package-dir mapping)
    from providers.aws.settings import AwsSettings
    from providers.azure.settings import AzureSettings
    from providers.docker.settings import DockerSettings
    from providers.gcp.settings import GcpSettings
    from providers.local.settings import LocalSettings
else:
    AwsSettings, AzureSettings, GcpSettings, DockerSettings, LocalSettings = map(settings_class, BUILT_IN)

# the settings models are re-exported for callers written before they moved (import them from their provider)
__all__ = ["AwsSettings", "AzureSettings", "BUILT_IN", "DockerSettings", "GcpSettings", "LocalSettings",
           "TargetsSettings", "settings_class", "settings_module"]


class TargetsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    aws: AwsSettings | None = None
    azure: AzureSettings | None = None
    gcp: GcpSettings | None = None
    docker: DockerSettings | None = None
    local: LocalSettings | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _listed_without_settings(cls, value: object) -> object:
        """`aws:` with nothing after it lists the target with its defaults (YAML reads it as null)."""
        return {} if value is None else value

    def configured(self) -> list[str]:
        return [name for name in type(self).model_fields if getattr(self, name) is not None]

    def for_target(self, name: str) -> BaseModel:
        value = getattr(self, name)
        if value is None:
            value = settings_class(name)()
        return value  # type: ignore[no-any-return]
