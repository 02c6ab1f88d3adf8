"""Azure SDK exceptions -> multicloud errors that say what happened and how to fix it.

ARM error codes are a table (data, not if/elif chains); an unknown code still becomes a clear
OperationError carrying Azure's own code and message.
"""

from __future__ import annotations

from multicloud.errors import MulticloudError, OperationError

# ARM error code -> fix
FIXES: dict[str, str] = {
    "AuthorizationFailed": "give the signed-in identity the Contributor role on the subscription or on the "
                           "resource group (az role assignment create ...)",
    "SubscriptionNotFound": "check targets.azure.subscription_id / AZURE_SUBSCRIPTION_ID and that the identity "
                            "can see that subscription",
    "InvalidSubscriptionId": "set a subscription GUID in targets.azure.subscription_id or AZURE_SUBSCRIPTION_ID",
    "MissingSubscriptionRegistration": "register the resource provider: az provider register --namespace "
                                       "<namespace from the message>",
    "StorageAccountAlreadyTaken": "storage account names are global: set targets.azure.storage_account",
    "StorageAccountAlreadyExists": "storage account names are global: set targets.azure.storage_account",
    "WebsiteAlreadyExists": "function app names are global: set targets.azure.app_name",
    "Conflict": "another operation or a resource with this name is in the way: set targets.azure.app_name / "
                "storage_account, or wait and deploy again",
    "LocationNotAvailableForResourceType": "choose another targets.azure.location (az functionapp "
                                           "list-flexconsumption-locations)",
    "SkuNotAvailable": "choose another targets.azure.location or `plan: consumption`",
    "QuotaExceeded": "raise the quota in the Azure portal or use another region",
    "ResourceGroupNotFound": "create the resource group or let multicloud create it (remove resource_group)",
    "InvalidTemplateDeployment": "check the targets.azure settings named in the message",
}


def translate(exc: Exception) -> MulticloudError | None:
    try:
        from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError
    except ImportError:  # the azure extra is not installed
        return None
    if isinstance(exc, ClientAuthenticationError):
        return OperationError(
            f"Azure sign-in failed: {_first_line(str(exc))}",
            fix="sign in with `az login`, or set AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET (any source "
                "DefaultAzureCredential supports)",
            where="azure",
        )
    if isinstance(exc, ServiceRequestError):
        return OperationError(
            f"could not reach Azure: {_first_line(str(exc))}",
            fix="check the network, proxy settings and AZURE_RESOURCE_MANAGER_ENDPOINT if you set it",
            where="azure",
        )
    if isinstance(exc, HttpResponseError):
        code = getattr(getattr(exc, "error", None), "code", None) or ""
        message = getattr(getattr(exc, "error", None), "message", None) or _first_line(exc.message or str(exc))
        status = exc.status_code
        fix = FIXES.get(code) or (
            "check the request named above; run again with the same spec (deploy is idempotent)"
            if status is None or status >= 500 else "fix the setting named in Azure's message and deploy again")
        url = getattr(getattr(exc, "response", None), "request", None)
        where = f"azure: {url.method} {url.url.split('?')[0]}" if url is not None else "azure"
        return OperationError(f"Azure answered {status} {code or 'error'}: {message}", fix=fix, where=where)
    return None


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text
