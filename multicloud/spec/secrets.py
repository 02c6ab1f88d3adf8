"""Secrets by reference only.

A secret in the spec is a *reference* (`scheme:locator`) that the target resolves at run time; the value
never enters the spec, rendered artifacts, logs or state. A plain string without a known scheme is taken
for a literal value and rejected. One reference may serve every target, or a map may give one per target.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator

# scheme -> (targets that resolve it, example)
SECRET_SCHEMES: dict[str, tuple[tuple[str, ...], str]] = {
    "ssm": (("aws",), "ssm:/my-service/api-key"),
    "secretsmanager": (("aws",), "secretsmanager:prod/db-password"),
    "keyvault": (("azure",), "keyvault:https://myvault.vault.azure.net/secrets/api-key"),
    "gcp-secret": (("gcp",), "gcp-secret:projects/my-project/secrets/api-key/versions/latest"),
    "env": (("local", "docker"), "env:API_KEY (read from the deploying host's environment)"),
    "file": (("local", "docker"), "file:/run/secrets/api-key"),
}
TARGET_KEYS = ("aws", "azure", "gcp", "docker", "local")


def scheme_of(ref: str) -> str | None:
    scheme, sep, rest = ref.partition(":")
    if sep and scheme in SECRET_SCHEMES and rest:
        return scheme
    return None


def _check_ref(value: str) -> str:
    if scheme_of(value) is None:
        schemes = ", ".join(f"{s}:" for s in SECRET_SCHEMES)
        # never echo the value: it may be the secret itself
        raise ValueError(
            "looks like a literal secret value; secrets must be references "
            f"({schemes}), e.g. ssm:/my-service/api-key. Store the value in a secret store and "
            "reference it here"
        )
    return value


def _validate(value: Any) -> Any:
    if isinstance(value, str):
        return _check_ref(value)
    if isinstance(value, dict):
        unknown = [k for k in value if k not in TARGET_KEYS]
        if unknown:
            raise ValueError(
                f"unknown target {unknown[0]!r} in secret reference map; use {', '.join(TARGET_KEYS)}"
            )
        for key, ref in value.items():
            if not isinstance(ref, str):
                raise ValueError(f"reference for {key} must be a string like ssm:/path")
            _check_ref(ref)
        return dict(value)
    raise ValueError("must be a reference string (e.g. ssm:/app/key) or a map of target -> reference")


SecretRef = Annotated[str | dict[str, str], BeforeValidator(_validate)]


def ref_for(ref: str | dict[str, str], target: str) -> str | None:
    """The reference a target should resolve, or None when this secret has none for that target."""
    if isinstance(ref, str):
        return ref
    return ref.get(target)
