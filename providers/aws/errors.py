"""AWS errors -> multicloud errors that say what to fix. A table, not an if/elif chain."""

from __future__ import annotations

from multicloud.errors import MulticloudError, OperationError

KEEP = " The previous version keeps serving."

# error code -> (what happened, how to fix it); {op} is the API operation
CODES: dict[str, tuple[str, str]] = {}
for _code in ("Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded",
              "SlowDown", "ProvisionedThroughputExceededException"):
    CODES[_code] = ("AWS throttled {op} even after retries",
                    "wait a minute and deploy again, or ask AWS to raise the account's request quota")
for _code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError",
              "UnauthorizedException"):
    CODES[_code] = ("the AWS identity deploying is not allowed to call {op}",
                    "grant that identity the IAM action for {op} on multicloud's resources (names "
                    "<service>-<stage>-*), or use a profile that has it")
for _code in ("InvalidClientTokenId", "UnrecognizedClientException", "ExpiredToken", "ExpiredTokenException",
              "SignatureDoesNotMatch"):
    CODES[_code] = ("AWS rejected the credentials while calling {op}",
                    "refresh the credentials (aws sso login, or new access keys) and check AWS_PROFILE")
CODES["ResourceConflictException"] = (
    "another change to the same Lambda resource was in progress during {op}",
    "wait until the other deployment finishes, then deploy again")
CODES["ResourceInUseException"] = CODES["ResourceConflictException"]
CODES["CodeStorageExceededException"] = (
    "the account's Lambda code storage (75 GB) is full",
    "delete old function versions (multicloud keeps every published version for rollback)")
CODES["TooManyTagsException"] = ("too many tags on a resource ({op})", "trim targets.aws.tags")
CODES["InvalidParameterValueException"] = ("AWS rejected a value in {op}", "check the spec values named above")
CODES["LimitExceededException"] = ("an AWS account limit was hit during {op}",
                                   "remove unused resources or ask AWS to raise the limit")


def translate(exc: Exception) -> MulticloudError | None:
    try:
        from botocore import exceptions as bx
    except ImportError:  # boto3 not installed
        return None
    if isinstance(exc, bx.NoCredentialsError):
        return OperationError("no AWS credentials found",
                              fix="set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run aws configure")
    if isinstance(exc, bx.NoRegionError):
        return OperationError("no AWS region is configured",
                              fix="set targets.aws.region in multicloud.yaml or AWS_DEFAULT_REGION")
    if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ReadTimeoutError)):
        return OperationError(f"cannot reach AWS: {exc}" + KEEP,
                              fix="check the network, and AWS_ENDPOINT_URL if you point boto3 at an emulator")
    if isinstance(exc, bx.WaiterError):
        return OperationError(f"AWS did not finish an update in time: {exc}" + KEEP,
                              fix="look at the function's state in the Lambda console, then deploy again")
    if isinstance(exc, bx.ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        message = str(err.get("Message", "")).strip()
        op = exc.operation_name
        what, fix = CODES.get(code, (f"AWS refused {op}", "read the AWS message above and fix that"))
        text = what.format(op=op) + f" ({code}: {message})" + KEEP
        return OperationError(text, fix=fix.format(op=op), where=f"AWS {op}")
    return None

