"""SDK clients built from Google's standard configuration, never from hard-wired endpoints.

* Project: `targets.gcp.project`, else `GOOGLE_CLOUD_PROJECT`, `CLOUDSDK_CORE_PROJECT`, else the project
  of Application Default Credentials.
* Endpoints: gcloud's documented overrides `CLOUDSDK_API_ENDPOINT_OVERRIDES_<API>` (CLOUDFUNCTIONS,
  CLOUDSCHEDULER, RUN, LOGGING, STORAGE, EVENTARC, CLOUDRESOURCEMANAGER), passed to the clients as
  `client_options.api_endpoint`; the REST
  transport is used so a plain-HTTP endpoint (an emulator or proxy) works as well as Google's.
* Credentials: Application Default Credentials; anonymous only when every API in use is overridden to a
  loopback address (a local emulator), as Google's own emulator conventions do.
* Pub/Sub (`pubsub.py`): google-cloud-pubsub's own `PUBSUB_EMULATOR_HOST`, else Google's endpoint with ADC.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Collection
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from multicloud.errors import OperationError, SpecError
from multicloud.project import Project

from .model import settings_of

APIS = {"functions": ("CLOUDFUNCTIONS", "https://cloudfunctions.googleapis.com"),
        "scheduler": ("CLOUDSCHEDULER", "https://cloudscheduler.googleapis.com"),
        "run": ("RUN", "https://run.googleapis.com"),
        "logging": ("LOGGING", "https://logging.googleapis.com"),
        "storage": ("STORAGE", "https://storage.googleapis.com"),
        "eventarc": ("EVENTARC", "https://eventarc.googleapis.com"),
        "resourcemanager": ("CLOUDRESOURCEMANAGER", "https://cloudresourcemanager.googleapis.com")}
SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def endpoint(api: str) -> str:
    """Base URL of an API: the override if set (version suffix and slash trimmed), else Google's."""
    env, default = APIS[api]
    value = os.environ.get(f"CLOUDSDK_API_ENDPOINT_OVERRIDES_{env}", "").strip()
    if not value:
        return default
    value = value.rstrip("/")
    for suffix in ("/storage/v1", "/v1", "/v2"):  # gcloud's own format for storage ends in /storage/v1/
        value = value.removesuffix(suffix)
    return value


def is_local(url: str) -> bool:
    return urllib.parse.urlsplit(url).hostname in LOOPBACK


@dataclass
class GcpClients:
    project_id: str
    region: str
    credentials: Any
    anonymous: bool

    @classmethod
    def from_environment(cls, project: Project, *, pubsub_only: bool = False) -> GcpClients:
        """`pubsub_only`: for calls that reach Pub/Sub alone (send, dead letters), which need no Google
        credentials when PUBSUB_EMULATOR_HOST points at the emulator."""
        settings = settings_of(project)
        anonymous = all(is_local(endpoint(api)) for api in APIS) or (
            pubsub_only and is_local("http://" + os.environ.get("PUBSUB_EMULATOR_HOST", "")))
        credentials: Any
        adc_project: str | None = None
        if anonymous:
            from google.auth.credentials import AnonymousCredentials

            credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
        else:
            import google.auth
            from google.auth.exceptions import DefaultCredentialsError

            try:
                credentials, adc_project = google.auth.default(scopes=SCOPES)
            except DefaultCredentialsError as exc:
                raise OperationError(
                    "no Google credentials found (Application Default Credentials)",
                    fix="run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS "
                        "to a service-account key file",
                ) from exc
        project_id = (settings.project or os.environ.get("GOOGLE_CLOUD_PROJECT")
                      or os.environ.get("CLOUDSDK_CORE_PROJECT") or adc_project)
        if not project_id:
            raise SpecError(
                "no Google Cloud project is set for the gcp target",
                fix="set `targets: {gcp: {project: my-project}}` or GOOGLE_CLOUD_PROJECT",
                where=project.locate(("targets", "gcp")),
            )
        return cls(project_id, settings.region, credentials, anonymous)

    @property
    def location(self) -> str:
        return f"projects/{self.project_id}/locations/{self.region}"

    def _options(self, api: str) -> Any:
        from google.api_core.client_options import ClientOptions

        return ClientOptions(api_endpoint=endpoint(api))

    @cached_property
    def functions(self) -> Any:
        from google.cloud import functions_v2

        return functions_v2.FunctionServiceClient(
            transport="rest", client_options=self._options("functions"), credentials=self.credentials
        )

    @cached_property
    def scheduler(self) -> Any:
        from google.cloud import scheduler_v1

        return scheduler_v1.CloudSchedulerClient(
            transport="rest", client_options=self._options("scheduler"), credentials=self.credentials
        )

    @cached_property
    def session(self) -> Any:
        """An authorized HTTP session for the REST calls without a client library here (Run IAM, Logging,
        Cloud Storage)."""
        from google.auth.transport.requests import AuthorizedSession

        return AuthorizedSession(self.credentials)  # type: ignore[no-untyped-call]

    def rest(self, method: str, api: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One JSON call; Google's error envelope becomes the matching google.api_core exception."""
        response = self.call(method, api, path, json=body)
        data: dict[str, Any] = response.json() if response.content else {}
        return data

    def call(self, method: str, api: str, path: str, *, params: dict[str, str] | None = None,
             json: dict[str, Any] | None = None, data: bytes | None = None, content_type: str | None = None,
             allow: Collection[int] = ()) -> Any:
        """One HTTP call, its `requests.Response` returned. An error status not in `allow` raises the matching
        google.api_core exception; the caller handles the allowed ones (e.g. 404, 412 of a precondition)."""
        from google.api_core import exceptions

        headers = {"Content-Type": content_type} if content_type else None
        response = self.session.request(method, f"{endpoint(api)}/{path.lstrip('/')}", params=params, json=json,
                                        data=data, headers=headers, timeout=60)
        if response.status_code >= 400 and response.status_code not in allow:
            raise exceptions.from_http_response(response)  # type: ignore[no-untyped-call]
        return response

    def identity_token(self, audience: str) -> str | None:
        """An OIDC identity token for calling a private function; None against a local emulator."""
        if self.anonymous or is_local(audience):
            return None
        import google.auth.transport.requests
        import google.oauth2.id_token

        try:
            token: str = google.oauth2.id_token.fetch_id_token(google.auth.transport.requests.Request(), audience)  # type: ignore[no-untyped-call]
        except Exception as exc:
            raise OperationError(
                "could not get an identity token to call a private function",
                fix="use a service-account identity (GOOGLE_APPLICATION_CREDENTIALS) with roles/run.invoker, "
                    "or make the function public (`auth: none` and `allow_unauthenticated: true`)",
                where=audience,
            ) from exc
        return token


def to_dict(message: Any) -> dict[str, Any]:
    """A proto-plus message (what the SDK answers) as plain data, with the API's field names."""
    data: dict[str, Any] = type(message).to_dict(message, preserving_proto_field_name=True,
                                                 use_integers_for_enums=False)
    return data
