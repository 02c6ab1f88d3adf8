"""`targets: aws:` settings. Credentials and endpoints come from boto3's standard chain, never from here."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_USER_TAGS = 46  # Lambda and IAM allow 50 tags; multicloud sets 4 ownership tags


class AwsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    region: str | None = Field(None, pattern=r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$",
                               description="AWS region; default from the standard AWS config chain.")
    architecture: Literal["x86_64", "arm64"] = "x86_64"
    http: Literal["function_url", "http_api"] = Field("function_url", description="How http triggers are served.")
    stage: str = Field("dev", pattern=r"^[a-z0-9-]{1,16}$", description="Suffix of every resource name.")
    artifact_bucket: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
                                        description="S3 bucket for packages over 50 MB zipped.")
    tags: dict[str, str] = Field(default_factory=dict, description="Extra tags on every resource created.")

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_USER_TAGS:
            raise ValueError(f"at most {MAX_USER_TAGS} tags (AWS allows 50; multicloud uses 4)")
        for key, val in value.items():
            if key.lower().startswith(("aws:", "multicloud:")):
                raise ValueError(f"tag {key!r}: the aws: and multicloud: prefixes are reserved")
            if not 1 <= len(key) <= 128 or len(val) > 256:
                raise ValueError(f"tag {key!r}: keys are 1-128 characters, values at most 256")
        return value
