"""Per-target settings under the spec's `targets:` key. One module per target, owned with its provider.

A target listed here is deployed by default (`multicloud deploy` with no `--target`); absent targets
can still be named on the command line and then use their defaults.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, field_validator

from multicloud.spec.targets.aws import AwsSettings
from multicloud.spec.targets.azure import AzureSettings
from multicloud.spec.targets.docker import DockerSettings
from multicloud.spec.targets.gcp import GcpSettings
from multicloud.spec.targets.local import LocalSettings

__all__ = ["AwsSettings", "AzureSettings", "DockerSettings", "GcpSettings", "LocalSettings", "TargetsSettings"]


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
            value = type(self).model_fields[name].annotation.__args__[0]()  # type: ignore[union-attr]
        return value  # type: ignore[no-any-return]
