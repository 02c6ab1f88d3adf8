"""The Lambda function itself: code, configuration, tags, a published version and the `live` alias.

Triggers point at the alias, never at $LATEST, so a failed update leaves the previous version serving.
Comparisons are made against what the alias serves: an unchanged spec makes no write call. The published
version is the record of what was deployed, so a $LATEST edited by hand is drift; the alias's description
records the version multicloud pointed it at, so an alias moved by hand is drift too.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from multicloud.errors import OperationError
from multicloud.project import ResolvedFunction
from multicloud.provider import Artifact

from .build import DIRECT_UPLOAD_LIMIT
from .context import Run, Value, error_code, is_not_found, ref
from .names import ALIAS, SECRETS_ENV, Names


@dataclass(frozen=True)
class Desired:
    names: Names
    fn: ResolvedFunction
    artifact: Artifact
    role_arn: str
    runtime: str
    architecture: str
    tags: dict[str, str]

    @property
    def code_sha(self) -> str:
        """Lambda's CodeSha256: base64 of the zip's sha256."""
        return base64.b64encode(bytes.fromhex(self.artifact.sha256)).decode()

    def environment(self) -> dict[str, str]:
        env = dict(self.fn.env)
        if self.fn.secrets:  # references only: the runtime resolves them at cold start
            env[SECRETS_ENV] = json.dumps(self.fn.secrets, sort_keys=True)
        return env

    def config(self) -> dict[str, Any]:
        return {
            "Runtime": self.runtime,
            "Handler": self.names.handler,
            "Role": self.role_arn,
            "MemorySize": self.fn.memory,
            "Timeout": self.fn.timeout,
            "Description": self.fn.description,
            "Environment": {"Variables": self.environment()},
        }


def _config_of(conf: dict[str, Any]) -> dict[str, Any]:
    return {
        "Runtime": conf.get("Runtime"),
        "Handler": conf.get("Handler"),
        "Role": conf.get("Role"),
        "MemorySize": conf.get("MemorySize"),
        "Timeout": conf.get("Timeout"),
        "Description": conf.get("Description", ""),
        "Environment": {"Variables": (conf.get("Environment") or {}).get("Variables") or {}},
    }


def _matches(conf: dict[str, Any], want: Desired) -> bool:
    arch = (conf.get("Architectures") or ["x86_64"])[0]
    return bool(conf.get("CodeSha256") == want.code_sha and _config_of(conf) == want.config()
                and arch == want.architecture)


def code_source(run: Run, want: Desired) -> dict[str, Any]:
    """Where the function's code comes from, decided at plan time (reads only): the zip itself, or, for a
    large artifact with `artifact_bucket`, an S3 object (uploaded by the step unless already there)."""
    path = str(want.artifact.path)
    if want.artifact.size <= DIRECT_UPLOAD_LIMIT or not run.settings.artifact_bucket:
        return {"path": path, "sha256": want.artifact.sha256}
    bucket = run.settings.artifact_bucket
    key = f"multicloud/{run.service}/{run.settings.stage}/{want.artifact.sha256}.zip"
    try:
        run.aws.client("s3").head_object(Bucket=bucket, Key=key)
        upload = False
    except Exception as exc:
        if not (is_not_found(exc) or error_code(exc) in {"404", "NoSuchKey"}):
            raise
        upload = True
    return {"path": path, "sha256": want.artifact.sha256, "bucket": bucket, "key": key, "upload": upload}


def get_function(run: Run, name: str) -> dict[str, Any] | None:
    """`GetFunction` (configuration of $LATEST and tags), None when there is no such function."""
    try:
        return dict(run.aws.client("lambda").get_function(FunctionName=name))
    except Exception as exc:
        if not is_not_found(exc):
            raise
        return None


ALIAS_DESCRIPTION = "managed by multicloud: version "


def alias_description(version: str) -> str:
    """The alias records the version multicloud pointed it at, so a move made by hand shows as drift."""
    return ALIAS_DESCRIPTION + version


def _recorded_version(alias: dict[str, Any]) -> str | None:
    """The version multicloud last pointed the alias at (None if it was set before descriptions said so)."""
    description = str(alias.get("Description") or "")
    return description.removeprefix(ALIAS_DESCRIPTION) if description.startswith(ALIAS_DESCRIPTION) else None


def _version_config(run: Run, name: str, version: str) -> dict[str, Any] | None:
    try:
        return dict(run.aws.client("lambda").get_function_configuration(FunctionName=name, Qualifier=version))
    except Exception as exc:
        if not is_not_found(exc):
            raise
        return None


def ensure_function(run: Run, want: Desired, current: dict[str, Any] | None, deployed: bool) -> Value:
    """Converge the function and its `live` alias; return the version `live` serves.

    `current` is `get_function`'s answer; `deployed`: the state cache says a deploy made the function."""
    name = want.names.lambda_name
    resource = f"lambda function {name}"
    alias_resource = f"lambda alias {name}:{ALIAS}"
    if current is None:
        run.write("create", resource, "lambda.create_function",
                  dict(FunctionName=name, PackageType="Zip", Architectures=[want.architecture], Publish=False,
                       Tags=want.tags, code=code_source(run, want), **want.config()),
                  "drift: the function was deleted outside multicloud" if deployed else "")
    else:
        _ensure_tags(run, want, current.get("Tags") or {}, current["Configuration"]["FunctionArn"])
    alias = _get_alias(run, name)
    moved = ""
    if alias is not None and current is not None:
        serving = str(alias["FunctionVersion"])
        recorded = _recorded_version(alias)
        if recorded is not None and recorded != serving:
            moved = f"drift: {ALIAS} was pointed to version {serving} outside multicloud"
        served = _version_config(run, name, recorded) if moved and recorded else None
        if served is None:
            served = _version_config(run, name, serving)
        if served is not None and _matches(served, want):
            kept = str(served["Version"])
            latest = _config_of(current["Configuration"])
            changed = [k.lower() for k, v in want.config().items() if latest.get(k) != v]
            if changed:  # $LATEST edited outside multicloud; `live` still serves the deployed version
                run.write("update", resource, "lambda.update_configuration", _config_args(want),
                          f"drift: {', '.join(changed)} of $LATEST changed outside multicloud")
            else:
                run.noop(resource)
            if kept != serving:  # moved by hand, and the version multicloud set still fits the spec
                run.write("update", alias_resource, "lambda:UpdateAlias", dict(
                    FunctionName=name, Name=ALIAS, FunctionVersion=kept, Description=alias_description(kept)),
                    f"{moved}: back to version {kept}")
            return kept
    if current is not None:
        latest = current["Configuration"]
        if latest.get("CodeSha256") != want.code_sha or (latest.get("Architectures") or ["x86_64"])[0] \
                != want.architecture:
            run.write("update", resource, "lambda.update_code", dict(
                FunctionName=name, Architectures=[want.architecture], code=code_source(run, want)), "code")
        if _config_of(latest) != want.config():
            run.write("update", resource, "lambda.update_configuration", _config_args(want), "configuration")
    key = f"version:{name}"
    run.write("create", f"lambda version {name}", "lambda:PublishVersion",
              dict(FunctionName=name, CodeSha256=want.code_sha), out=key)
    version, described = ref(key, "Version"), ref(key, "Version", fmt=alias_description("{}"))
    if alias is None:
        run.write("create", alias_resource, "lambda:CreateAlias", dict(
            FunctionName=name, Name=ALIAS, FunctionVersion=version, Description=described))
    else:
        run.write("update", alias_resource, "lambda:UpdateAlias", dict(
            FunctionName=name, Name=ALIAS, FunctionVersion=version, Description=described),
            moved or "-> the version published")
    return version


def _config_args(want: Desired) -> dict[str, Any]:
    return dict(FunctionName=want.names.lambda_name, **want.config())


def _ensure_tags(run: Run, want: Desired, current: dict[str, str], arn: str) -> None:
    missing = {k: v for k, v in want.tags.items() if current.get(k) != v}
    if missing:
        run.write("update", f"lambda function {want.names.lambda_name}", "lambda:TagResource",
                  dict(Resource=arn, Tags=missing), "tags")


def _get_alias(run: Run, name: str) -> dict[str, Any] | None:
    try:
        return dict(run.aws.client("lambda").get_alias(FunctionName=name, Name=ALIAS))
    except Exception as exc:
        if is_not_found(exc):
            return None
        raise


def alias_arn(run: Run, names: Names) -> str:
    return run.aws.arn("lambda", f"function:{names.lambda_name}:{ALIAS}")


def function_arn(run: Run, names: Names) -> str:
    return run.aws.arn("lambda", f"function:{names.lambda_name}")


def previous_version(run: Run, name: str) -> tuple[str, str]:
    """(current, previous) published versions for rollback."""
    lam = run.aws.client("lambda")
    alias = _get_alias(run, name)
    if alias is None:
        raise OperationError(f"{name} has no `{ALIAS}` alias: nothing to roll back",
                             fix="deploy first with `multicloud deploy --target aws`", where=name)
    current = str(alias["FunctionVersion"])
    versions: list[int] = []
    for page in lam.get_paginator("list_versions_by_function").paginate(FunctionName=name):
        versions += [int(v["Version"]) for v in page["Versions"] if v["Version"].isdigit()]
    older = sorted(v for v in versions if current.isdigit() and v < int(current))
    if not older:
        raise OperationError(f"{name} serves version {current}, and there is no earlier version",
                             fix="deploy a fixed version instead", where=name)
    return current, str(older[-1])
