"""`targets: azure:` settings. Credentials come from azure-identity's DefaultAzureCredential."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from multicloud.spec.types import Int


class EventHubSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    connection: str = Field("EVENTHUB_CONNECTION", description="App setting holding the connection.")
    create: bool = Field(False, description="Create namespace, hub and consumer group.")
    namespace: str | None = None


class AzureSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    subscription_id: str | None = Field(None, description="Default: AZURE_SUBSCRIPTION_ID.")
    location: str = "westeurope"
    resource_group: str | None = Field(None, description="Default: <service>-rg.")
    plan: Literal["flex", "consumption"] = "flex"
    app_name: str | None = Field(None, description="Function app name; default: <service>-<hash>.")
    storage_account: str | None = Field(None, description="Default: mc<service><hash> (global, 3-24 a-z0-9).")
    max_instances: Int = Field(100, ge=40, le=1000, description="Flex Consumption maximumInstanceCount.")
    eventhub: EventHubSettings = Field(default_factory=EventHubSettings)
    tags: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _plan_settings(self) -> AzureSettings:
        if self.plan == "consumption" and "max_instances" in self.model_fields_set:
            raise ValueError("max_instances applies to the Flex Consumption plan only Fix: remove it, or use "
                             "plan: flex")
        return self
