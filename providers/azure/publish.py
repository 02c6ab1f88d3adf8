"""Publish the zip through the SCM site's one-deploy endpoint and wait for the deployment to finish.

`POST https://<scm host>/api/publish?type=zip&RemoteBuild=false` with the package as body and an ARM
bearer token; Kudu answers 202 with a Location to poll (`/api/deployments/<id>`), whose JSON carries
`status` (0 pending, 1 building, 2 deploying, 3 failed, 4 success) and `complete`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from multicloud.errors import OperationError
from multicloud.provider import Progress

PENDING, BUILDING, DEPLOYING, FAILED, SUCCESS = 0, 1, 2, 3, 4
STATUS_TEXT = {PENDING: "pending", BUILDING: "building", DEPLOYING: "deploying", FAILED: "failed",
               SUCCESS: "succeeded"}


def scm_host(site: Any, app_name: str) -> str:
    """The SCM (Kudu) host the platform reports for the site; the public default otherwise."""
    for state in getattr(site, "host_name_ssl_states", None) or []:
        # items may come back as plain JSON mappings or as models, depending on the SDK generation
        kind = state.get("hostType") if isinstance(state, dict) else getattr(state, "host_type", "")
        name = state.get("name") if isinstance(state, dict) else getattr(state, "name", None)
        if str(kind).lower() in ("repository", "hosttype.repository") and name:
            return str(name)
    return f"{app_name}.scm.azurewebsites.net"


def scm_client(credential: Any, scope: str, host: str) -> Any:
    from azure.core import PipelineClient
    from azure.core.pipeline import policies

    return PipelineClient(
        base_url=f"https://{host}",
        policies=[
            policies.HeadersPolicy(),
            policies.UserAgentPolicy(sdk_moniker="multicloud-azure"),
            policies.RetryPolicy(retry_total=3),
            policies.BearerTokenCredentialPolicy(credential, scope),
            policies.RedirectPolicy(),
        ],
    )


def publish_zip(client: Any, zip_path: Path, progress: Progress, *, timeout_s: float = 900,
                poll_s: float = 1.0) -> dict[str, Any]:
    from azure.core.rest import HttpRequest

    progress(f"publishing {zip_path.name} ({zip_path.stat().st_size} bytes) through one-deploy")
    request = HttpRequest("POST", client.format_url("/api/publish"), params={"type": "zip", "RemoteBuild": "false"},
                          headers={"Content-Type": "application/zip"}, content=zip_path.read_bytes())
    response = client.send_request(request)
    if response.status_code not in (200, 202):
        fix = ("give the signed-in identity Contributor (or Website Contributor) on the function app: the SCM "
               "site accepts the same Entra ID token as ARM" if response.status_code in (401, 403)
               else "check that the app exists and runs Python on Linux; deploy again")
        raise OperationError(
            f"one-deploy refused the package: HTTP {response.status_code} {_short(response.text())}",
            fix=fix, where=f"azure: POST {request.url}",
        )
    location = response.headers.get("Location") or client.format_url("/api/deployments/latest")
    deadline = time.monotonic() + timeout_s
    while True:
        poll = client.send_request(HttpRequest("GET", location))
        if poll.status_code == 200:
            body = json.loads(poll.text() or "{}")
            status = int(body.get("status", PENDING))
            if body.get("complete") or status in (FAILED, SUCCESS):
                if status != SUCCESS:
                    raise OperationError(
                        f"deployment {body.get('id', '?')} {STATUS_TEXT.get(status, status)}: "
                        f"{_short(str(body.get('status_text') or body.get('message') or ''))}",
                        fix="read the deployment log (`multicloud logs --target azure`) and fix the package",
                        where=f"azure: {location}",
                    )
                progress(f"deployment {body.get('id', '')} succeeded")
                return dict(body)
            progress(f"deployment {STATUS_TEXT.get(status, status)}")
        elif poll.status_code not in (202, 404):
            raise OperationError(f"polling the deployment failed: HTTP {poll.status_code}",
                                 fix="deploy again", where=f"azure: GET {location}")
        if time.monotonic() > deadline:
            raise OperationError(f"deployment did not finish within {timeout_s:.0f} s",
                                 fix="check the app's deployment center, then deploy again",
                                 where=f"azure: {location}")
        time.sleep(poll_s)


def upload_blob(url: str, zip_path: Path) -> None:
    """PUT a block blob through a SAS URL (Linux Consumption runs the package from such a URL)."""
    import requests

    try:
        response = requests.put(url, data=zip_path.read_bytes(), timeout=600,
                                headers={"x-ms-blob-type": "BlockBlob", "Content-Type": "application/zip"})
    except requests.RequestException as exc:
        raise OperationError(f"uploading the package failed: {exc.__class__.__name__}",
                             fix="check network access to the storage account, then deploy again",
                             where=f"azure: PUT {url.split('?')[0]}") from exc
    if response.status_code not in (200, 201):
        raise OperationError(f"uploading the package failed: HTTP {response.status_code} {_short(response.text)}",
                             fix="check that the storage account allows shared key (SAS) access",
                             where=f"azure: PUT {url.split('?')[0]}")


def deployment_log(client: Any, deployment: str = "latest") -> list[dict[str, Any]]:
    from azure.core.rest import HttpRequest

    response = client.send_request(HttpRequest("GET", client.format_url(f"/api/deployments/{deployment}/log")))
    if response.status_code == 404:
        return []
    response.raise_for_status()
    data = json.loads(response.text() or "[]")
    return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."
