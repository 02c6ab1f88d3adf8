"""Google errors -> one clear message with the fix. A table by exception class, most specific first."""

from __future__ import annotations

from multicloud.errors import MulticloudError, OperationError

# exception class name -> fix (google.api_core.exceptions names; matched along the class hierarchy)
FIXES: dict[str, str] = {
    "Unauthenticated": "run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS",
    "PermissionDenied": "grant the deploying identity roles/cloudfunctions.developer, roles/iam.serviceAccountUser "
                        "and roles/cloudscheduler.admin on the project, and check that the Cloud Functions, "
                        "Cloud Build, Artifact Registry, Eventarc, Run and Scheduler APIs are enabled",
    "Conflict": "another deployment of this function is running, or the id is taken; wait and retry",
    "AlreadyExists": "another deployment of this function is running, or the id is taken; wait and retry",
    "NotFound": "check `targets: gcp: project/region` (or GOOGLE_CLOUD_PROJECT) and that the bucket, topic or "
                "secret the spec names exists",
    "FailedPrecondition": "enable the API named in the message (`gcloud services enable ...`), and check that "
                          "secrets, buckets and topics exist in this project",
    "ResourceExhausted": "a quota is exhausted; wait, or ask for more quota in the Cloud console",
    "InvalidArgument": "fix the value the message names (memory, region, trigger or secret in the spec)",
    "BadRequest": "fix the value the message names (memory, region, trigger or secret in the spec)",
    "DeadlineExceeded": "the operation is slow; run `multicloud status --target gcp` and deploy again",
    "ServiceUnavailable": "Google answered 503; retry in a minute",
    "TransportError": "check network access to Google, or the CLOUDSDK_API_ENDPOINT_OVERRIDES_* setting",
    "ConnectionError": "check network access to Google, or the CLOUDSDK_API_ENDPOINT_OVERRIDES_* setting",
    "RefreshError": "the Google credentials expired or are invalid: run `gcloud auth application-default login`",
    "DefaultCredentialsError": "run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS",
    "GoogleAPICallError": "see the message from Google",
    "GoogleAPIError": "see the message from Google",
}


# Google's canonical status (the REST error envelope's `status`) -> the class whose fix applies
STATUS_CLASS: dict[str, str] = {
    "UNAUTHENTICATED": "Unauthenticated", "PERMISSION_DENIED": "PermissionDenied", "ALREADY_EXISTS": "Conflict",
    "ABORTED": "Conflict", "NOT_FOUND": "NotFound", "FAILED_PRECONDITION": "FailedPrecondition",
    "RESOURCE_EXHAUSTED": "ResourceExhausted", "INVALID_ARGUMENT": "InvalidArgument",
    "DEADLINE_EXCEEDED": "DeadlineExceeded", "UNAVAILABLE": "ServiceUnavailable",
}
# HTTP-only classes api_core raises over REST -> the same fixes
FIXES.update(Forbidden=FIXES["PermissionDenied"], TooManyRequests=FIXES["ResourceExhausted"],
             Unauthorized=FIXES["Unauthenticated"])


def _status(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    try:
        status = response.json()["error"]["status"] if response is not None else None
    except Exception:
        return None
    return status if isinstance(status, str) else None


def translate(exc: Exception) -> MulticloudError | None:
    module = type(exc).__module__
    if not module.startswith(("google.", "requests", "urllib3")):
        return None
    status = _status(exc)
    names = [STATUS_CLASS[status]] if status in STATUS_CLASS else []
    names += [cls.__name__ for cls in type(exc).__mro__]
    for name in names:
        fix = FIXES.get(name)
        if fix is not None:
            message = getattr(exc, "message", None) or str(exc)
            code = getattr(exc, "code", None)
            label = status or type(exc).__name__
            prefix = f"Google {label}" + (f" (HTTP {int(code)})" if isinstance(code, int) else "")
            return OperationError(f"{prefix}: {message}", fix=fix)
    return None
