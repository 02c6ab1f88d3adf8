"""`targets: gcp:` settings for Cloud Functions gen2.

Credentials come from Google's Application Default Credentials and endpoints from the SDK's standard
configuration (`CLOUDSDK_API_ENDPOINT_OVERRIDES_<API>`), never from here.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from multicloud.spec.types import Int, no_bool

LABEL_RE = r"^[a-z][a-z0-9_-]{0,62}$"
LABEL_VALUE_RE = r"^[a-z0-9_-]{0,63}$"
LabelKey = Annotated[str, Field(pattern=LABEL_RE)]
LabelValue = Annotated[str, Field(pattern=LABEL_VALUE_RE)]
# Cloud Storage bucket names without dots (dotted names need a verified domain)
BUCKET_RE = r"^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$"
SERVICE_ACCOUNT_RE = (
    r"^[a-z0-9-]+@[a-z0-9.-]+\.iam\.gserviceaccount\.com$"
    r"|^[0-9]+-compute@developer\.gserviceaccount\.com$"
)


class GcpSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    project: str | None = Field(
        None, pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$",
        description="Default: GOOGLE_CLOUD_PROJECT, then CLOUDSDK_CORE_PROJECT, then the ADC project.",
    )
    region: str = Field("europe-west1", pattern=r"^[a-z]+-[a-z]+[0-9]$")
    ingress: Literal["all", "internal", "internal_and_gclb"] = "all"
    allow_unauthenticated: bool = Field(True, description="Public HTTP functions (auth: none).")
    labels: dict[LabelKey, LabelValue] = Field(
        default_factory=dict, description="Extra labels (lower-case); `multicloud-*` labels are reserved."
    )
    service_account: str | None = Field(
        None, pattern=SERVICE_ACCOUNT_RE, description="Runtime identity; default: the platform's."
    )
    invoker_service_account: str | None = Field(
        None, pattern=SERVICE_ACCOUNT_RE,
        description="Identity Eventarc and Cloud Scheduler use to call private functions (OIDC).",
    )
    max_instances: Annotated[int, Field(ge=1, le=1000), BeforeValidator(no_bool)] | None = None
    min_instances: Int = Field(0, ge=0, le=1000)
    concurrency: Int = Field(1, ge=1, le=1000, description="Requests one instance serves at once.")
    retry_events: bool = Field(False, description="Retry failed storage/queue events (at-least-once).")
    trigger_region: str | None = Field(
        None, description="Eventarc region; default: the function's (set it for dual-region buckets)."
    )
    time_zone: str = Field("Etc/UTC", description="Time zone of Cloud Scheduler cron schedules.")
    state_bucket: str | None = Field(
        None, pattern=BUCKET_RE,
        description="Existing Cloud Storage bucket that holds the deploy lock (the deploying identity needs "
                    "storage.objects.create/get/delete on it). Default: `<project>-multicloud`, created on first use.",
    )
