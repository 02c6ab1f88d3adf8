"""`targets: gcp:` settings. Credentials come from Google's Application Default Credentials."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class GcpSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    project: str | None = Field(None, description="Default: GOOGLE_CLOUD_PROJECT.")
    region: str = "europe-west1"
    ingress: Literal["all", "internal", "internal_and_gclb"] = "all"
    allow_unauthenticated: bool = Field(True, description="Public HTTP functions (auth: none).")
    labels: dict[str, str] = Field(default_factory=dict)
