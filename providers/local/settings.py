"""`targets: local:` settings: the embedded runtime as a supervised process, no engine needed."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from multicloud.spec.types import Float, Int, Port


class LocalSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: Port | None = Field(None, description="Default: a free port, kept across deploys.")
    concurrency: Int = Field(32, ge=1, le=4096)
    max_body_mb: Float = Field(6, gt=0, le=1024)
