"""`targets: aws:` settings. Credentials and endpoints come from boto3's standard chain, never from here."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class AwsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    region: str | None = Field(None, description="AWS region; default from the standard AWS config chain.")
    architecture: Literal["x86_64", "arm64"] = "x86_64"
    http: Literal["function_url", "http_api"] = Field("function_url", description="How http triggers are served.")
    stage: str = Field("dev", pattern=r"^[a-z0-9-]{1,16}$", description="Suffix of every resource name.")
    artifact_bucket: str | None = Field(None, description="S3 bucket for packages over 50 MB zipped.")
    tags: dict[str, str] = Field(default_factory=dict)
