"""`targets: docker:` settings: the private cloud on one Docker host or a Swarm."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class DockerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["single", "swarm"] = "single"
    replicas: int = Field(1, ge=1, le=100)
    base_image: str | None = Field(None, description="Default: python:<version>-slim.")
    publish_host: str = Field("127.0.0.1", description="Host address the port is published on.")
    port: int | None = Field(None, ge=1, le=65535, description="Fixed published port; default: a free one.")
    cpus: float = Field(1.0, gt=0, le=64)
    pids_limit: int = Field(256, ge=16)
    concurrency: int = Field(32, ge=1, le=4096, description="Requests served at once per instance.")
    max_body_mb: float = Field(6, gt=0, le=1024)
    labels: dict[str, str] = Field(default_factory=dict)
