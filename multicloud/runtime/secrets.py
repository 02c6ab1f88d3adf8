"""Cold-start secret resolution for targets whose platform does not inject secrets itself.

The deployed function gets `MULTICLOUD_SECRETS` = JSON `{ENV_NAME: reference}`. On AWS the references are
`ssm:` and `secretsmanager:` (read with the boto3 the Lambda runtime provides, imported only when
needed); on the private runtime `env:` and `file:`. Azure Key Vault references and GCP secret environment
variables are resolved by the platform, so they never reach this module. Values are only ever written to
`os.environ`, never logged: errors name the variable and the reference, not the value, and every resolved
value is registered with `multicloud.runtime.redact`, which masks it in whatever the runtime logs.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, MutableMapping

ENV_VAR = "MULTICLOUD_SECRETS"
_clients: dict[str, object] = {}


class SecretResolutionError(RuntimeError):
    """A reference could not be resolved; carries what / fix / where like multicloud.errors."""

    def __init__(self, what: str, *, fix: str, where: str) -> None:
        self.what, self.fix, self.where = what, fix, where
        super().__init__(f"{where}: {what} Fix: {fix}")


def _boto_client(service: str) -> object:
    if service not in _clients:
        import boto3  # provided by the Lambda runtime; honours AWS_ENDPOINT_URL and AWS_REGION

        _clients[service] = boto3.client(service)
    return _clients[service]


def _ssm(locator: str, environ: Mapping[str, str]) -> str:
    client = _boto_client("ssm")
    answer = client.get_parameter(Name=locator, WithDecryption=True)  # type: ignore[attr-defined]
    return str(answer["Parameter"]["Value"])


def _secretsmanager(locator: str, environ: Mapping[str, str]) -> str:
    client = _boto_client("secretsmanager")
    answer = client.get_secret_value(SecretId=locator)  # type: ignore[attr-defined]
    if "SecretString" in answer:
        return str(answer["SecretString"])
    return bytes(answer["SecretBinary"]).decode("utf-8")


def _env(locator: str, environ: Mapping[str, str]) -> str:
    if locator not in environ:
        raise KeyError(f"environment variable {locator} is not set")
    return environ[locator]


def _file(locator: str, environ: Mapping[str, str]) -> str:
    with open(locator, encoding="utf-8") as fh:
        return fh.read().rstrip("\r\n")


RESOLVERS: dict[str, Callable[[str, Mapping[str, str]], str]] = {
    "ssm": _ssm,
    "secretsmanager": _secretsmanager,
    "env": _env,
    "file": _file,
}
PLATFORM_RESOLVED = ("keyvault", "gcp-secret")


def resolve(reference: str, environ: Mapping[str, str] | None = None) -> str:
    """One reference -> its value (`env:` reads `environ`, by default the process environment)."""
    scheme, sep, locator = reference.partition(":")
    if not sep or not locator:
        raise SecretResolutionError(
            "is not a secret reference (scheme:locator)", fix="use e.g. ssm:/app/key", where=reference
        )
    resolver = RESOLVERS.get(scheme)
    if resolver is None:
        hint = ("it is resolved by the platform and must arrive as an ordinary environment variable"
                if scheme in PLATFORM_RESOLVED else f"use one of {', '.join(RESOLVERS)}")
        raise SecretResolutionError(f"scheme {scheme!r} cannot be resolved at run time", fix=hint,
                                    where=reference)
    value = resolver(locator, os.environ if environ is None else environ)
    from multicloud.runtime import redact

    redact.register(value, reference)  # from now on masked in everything the runtime logs
    return value


def resolve_into_environ(environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Resolve every reference in `MULTICLOUD_SECRETS` into the environment; returns the names set.

    Idempotent: a name already resolved in this process is not fetched again.
    """
    env = os.environ if environ is None else environ
    raw = env.get(ENV_VAR)
    if not raw:
        return []
    import json

    try:
        refs = json.loads(raw)
    except ValueError as exc:
        raise SecretResolutionError("is not valid JSON", fix="the deploy step writes {NAME: reference}",
                                    where=ENV_VAR) from exc
    if not isinstance(refs, dict):
        raise SecretResolutionError("must be a JSON object {NAME: reference}", fix="redeploy",
                                    where=ENV_VAR)
    done = set(env.get("MULTICLOUD_SECRETS_RESOLVED", "").split(",")) - {""}
    names: list[str] = []
    for name, reference in refs.items():
        if name in done:
            continue
        try:
            env[name] = resolve(str(reference), env)
        except SecretResolutionError:
            raise
        except Exception as exc:
            raise SecretResolutionError(
                f"resolving secret for {name} failed ({type(exc).__name__})",
                fix="check that the reference exists and the function's identity may read it",
                where=str(reference),
            ) from exc
        names.append(name)
    if names:
        env["MULTICLOUD_SECRETS_RESOLVED"] = ",".join(sorted(done | set(names)))
        from multicloud.runtime import redact

        redact.mask_streams()  # a handler's own print() of a secret is masked as well
    return names
