"""ARM session: credentials, endpoint, management clients and the names of every resource.

Endpoint: `AZURE_RESOURCE_MANAGER_ENDPOINT` when set (Azure Stack, sovereign clouds, a test fake),
otherwise the SDK's own choice from azure-core's cloud setting (`AZURE_SDK_CLOUD_CONF`). Credentials: the
TokenCredential passed in, else azure-identity's DefaultAzureCredential. Clients are created on first use.
"""

from __future__ import annotations

import hashlib
import os
import re
from functools import cached_property
from typing import TYPE_CHECKING, Any

from multicloud.errors import UsageError
from multicloud.project import Project
from multicloud.provider import Endpoint
from multicloud.spec.models import HttpTrigger

from .app import settings_of
from .settings import AzureSettings

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

ENDPOINT_ENV = "AZURE_RESOURCE_MANAGER_ENDPOINT"
TAG_SERVICE = "multicloud-service"
TAG_MANAGED = "managed-by"
TAG_CODE = "multicloud-code"
TAG_PREVIOUS = "multicloud-previous"  # the code digest that ran before TAG_CODE: rollback's target


class ArmSession:
    def __init__(self, project: Project, credential: TokenCredential | None = None,
                 settings: AzureSettings | None = None) -> None:
        self.project = project
        self.settings = settings if settings is not None else settings_of(project)
        self._credential = credential
        sub = self.settings.subscription_id or os.environ.get("AZURE_SUBSCRIPTION_ID")
        if not sub:
            raise UsageError(
                "no Azure subscription id",
                fix="set targets.azure.subscription_id in the spec or AZURE_SUBSCRIPTION_ID in the environment",
            )
        self.subscription_id = sub

    # ---- names ------------------------------------------------------------------------------------
    @cached_property
    def _suffix(self) -> str:
        seed = f"{self.subscription_id}/{self.resource_group}/{self.project.name}"
        return hashlib.sha256(seed.encode()).hexdigest()[:8]

    @cached_property
    def resource_group(self) -> str:
        return self.settings.resource_group or f"{self.project.name}-rg"

    @cached_property
    def app_name(self) -> str:
        return self.settings.app_name or f"{self.project.name}-{self._suffix[:6]}"

    @property
    def plan_name(self) -> str:
        return f"{self.app_name}-plan"

    @cached_property
    def storage_account(self) -> str:
        if self.settings.storage_account:
            return self.settings.storage_account
        return ("mc" + re.sub(r"[^a-z0-9]", "", self.project.name))[:16] + self._suffix

    @property
    def deploy_container(self) -> str:
        return f"app-package-{self._suffix}"

    @property
    def lock_container(self) -> str:
        """Holds the deploy lock (a lease, see lock.py) in the same account."""
        return f"deploy-lock-{self._suffix}"

    @cached_property
    def eventhub_namespace(self) -> str:
        # 6-50 characters, a letter first, a letter or digit last
        return self.settings.eventhub.namespace or f"{self.project.name[:40].rstrip('-')}-{self._suffix}"

    def tags(self, **extra: str) -> dict[str, str]:
        return {**self.settings.tags, TAG_SERVICE: self.project.name, TAG_MANAGED: "multicloud", **extra}

    def owns(self, resource: Any) -> bool:
        tags = getattr(resource, "tags", None) or {}
        return tags.get(TAG_SERVICE) == self.project.name and tags.get(TAG_MANAGED) == "multicloud"

    # ---- clients ----------------------------------------------------------------------------------
    @cached_property
    def credential(self) -> TokenCredential:
        if self._credential is not None:
            return self._credential
        from azure.identity import DefaultAzureCredential

        return DefaultAzureCredential()

    def _client_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        endpoint = os.environ.get(ENDPOINT_ENV)
        if endpoint:
            kwargs["base_url"] = endpoint.rstrip("/")
        return kwargs

    @cached_property
    def resources(self) -> Any:
        from azure.mgmt.resource.resources import ResourceManagementClient

        return ResourceManagementClient(self.credential, self.subscription_id, **self._client_kwargs())

    @cached_property
    def storage(self) -> Any:
        from azure.mgmt.storage import StorageManagementClient

        return StorageManagementClient(self.credential, self.subscription_id, **self._client_kwargs())

    @cached_property
    def web(self) -> Any:
        from azure.mgmt.web import WebSiteManagementClient

        return WebSiteManagementClient(self.credential, self.subscription_id, **self._client_kwargs())

    @cached_property
    def eventhub(self) -> Any:
        from azure.mgmt.eventhub import EventHubManagementClient

        return EventHubManagementClient(self.credential, self.subscription_id, **self._client_kwargs())

    @property
    def arm_scope(self) -> str:
        """The token scope for ARM and the SCM site (Kudu accepts ARM tokens)."""
        return str(self.web._config.credential_scopes[0])

    # ---- ids ----------------------------------------------------------------------------------------
    def rg_id(self) -> str:
        return f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"

    def site_id(self) -> str:
        return f"{self.rg_id()}/providers/Microsoft.Web/sites/{self.app_name}"

    def plan_id(self) -> str:
        return f"{self.rg_id()}/providers/Microsoft.Web/serverfarms/{self.plan_name}"


def tags_of(resource: Any) -> dict[str, str]:
    return dict(getattr(resource, "tags", None) or {})


def endpoints(s: ArmSession, host: str) -> tuple[Endpoint, ...]:
    """The public URL of every http trigger (routePrefix is empty: the spec's paths)."""
    out = []
    for fn in s.project.functions_for("azure"):
        for t in fn.triggers:
            if isinstance(t.config, HttpTrigger):
                out.append(Endpoint(fn.name, f"https://{host}{t.config.path}",
                                    "key" if t.config.auth == "key" else "none"))
    return tuple(out)


def get_or_none(call: Any, *args: Any) -> Any:
    """An ARM GET that answers None for 404 instead of raising."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        return call(*args)
    except ResourceNotFoundError:
        return None
