"""The function app as files and settings: what `build` renders and what `deploy` sets.

`render_app` produces `function_app.py` (Python v2 model, calling `multicloud.runtime.azure.AzureShim`),
`host.json`, `requirements.txt` and `.funcignore`. `app_settings` turns the spec's env vars into app
settings and secrets into Key Vault references; a secret value never appears in either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import cast

from multicloud.errors import SpecError, UnsupportedError
from multicloud.project import Project, ResolvedFunction
from multicloud.render import render
from multicloud.requirements import package_name, read_requirements
from multicloud.spec.secrets import scheme_of

from .settings import AzureSettings
from .triggers import AzureFunction, azure_functions, host_extensions

GENERATED = ("function_app.py", "host.json", "requirements.txt", ".funcignore")
EXTENSION_BUNDLE = {"id": "Microsoft.Azure.Functions.ExtensionBundle", "version": "[4.*, 5.0.0)"}
FLEX_MEMORY_MB = (512, 2048, 4096)  # Flex Consumption instance sizes
CONSUMPTION_MAX_TIMEOUT_S = 600
KEYVAULT_URI_RE = re.compile(r"^https://[A-Za-z0-9-]+\.vault\.[A-Za-z0-9.-]+/secrets/[A-Za-z0-9-]+(/[A-Za-z0-9]+)?/?$")
# Settings the platform or multicloud owns; a spec env var must not silently replace one.
RESERVED_SETTINGS = re.compile(r"^(AzureWebJobs.*|FUNCTIONS_.*|WEBSITE_.*|SCM_.*|APPLICATIONINSIGHTS_.*|"
                               r"DEPLOYMENT_STORAGE_CONNECTION_STRING|MULTICLOUD_.*)$")


def settings_of(project: Project) -> AzureSettings:
    return cast(AzureSettings, project.settings("azure"))


@dataclass(frozen=True)
class AppModel:
    """Everything about the app that follows from the spec alone (no cloud lookups)."""

    functions: tuple[AzureFunction, ...]
    host: dict[str, object]
    settings: dict[str, str]  # env vars + Key Vault references
    instance_memory_mb: int
    timeout_s: int


def app_model(project: Project) -> AppModel:
    cfg = settings_of(project)
    resolved = project.functions_for("azure")
    funcs = azure_functions(project, resolved, plan=cfg.plan, eventhub_connection=cfg.eventhub.connection,
                            locate=project.locate)
    timeout = max((f.timeout for f in resolved if f.triggers), default=30)
    if cfg.plan == "consumption" and timeout > CONSUMPTION_MAX_TIMEOUT_S:
        slowest = max(resolved, key=lambda f: f.timeout)
        raise UnsupportedError(
            f"function {slowest.name!r} asks for a {timeout} s timeout; the Consumption plan stops at 600 s",
            fix="lower `timeout` for azure or use `plan: flex` (no fixed limit)",
            where=project.locate(("functions", slowest.name, "timeout")),
        )
    memory = max((f.memory for f in resolved if f.triggers), default=512)
    instance = next((m for m in FLEX_MEMORY_MB if m >= memory), FLEX_MEMORY_MB[-1])
    host: dict[str, object] = {
        "version": "2.0",
        "extensionBundle": EXTENSION_BUNDLE,
        "functionTimeout": _timespan(timeout),
        "extensions": host_extensions(resolved, project.locate),
        "logging": {"logLevel": {"default": "Information"}},
    }
    return AppModel(tuple(funcs), host, app_settings(project, resolved), instance, timeout)


def _timespan(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def keyvault_reference(ref: str, where: object) -> str:
    """`keyvault:<secret URI>` -> the app-setting form the platform resolves at start."""
    uri = ref.split(":", 1)[1]
    if not KEYVAULT_URI_RE.match(uri):
        raise SpecError(
            "Key Vault reference is not a secret URI",
            fix="write keyvault:https://<vault>.vault.azure.net/secrets/<name>[/<version>]",
            where=str(where),
        )
    return f"@Microsoft.KeyVault(SecretUri={uri})"


def app_settings(project: Project, functions: list[ResolvedFunction]) -> dict[str, str]:
    """App settings are app-wide on Azure: two functions must agree on a shared name."""
    out: dict[str, str] = {}
    origin: dict[str, str] = {}
    for fn in functions:
        values = dict(fn.env)
        for env_name, ref in fn.secrets.items():
            where = project.locate(("functions", fn.name, "secrets", env_name))
            if scheme_of(ref) != "keyvault":
                raise UnsupportedError(
                    f"secret {env_name} uses a `{scheme_of(ref)}:` reference, which Azure cannot resolve",
                    fix="give it a Key Vault reference for azure: {azure: keyvault:https://<vault>.vault."
                        "azure.net/secrets/<name>, ...}",
                    where=where,
                )
            values[env_name] = keyvault_reference(ref, where)
        for name, value in values.items():
            field = "secrets" if name in fn.secrets else "env"
            if RESERVED_SETTINGS.match(name):
                raise SpecError(f"{name} is an app setting that Azure Functions or multicloud reserves",
                                fix="rename the variable",
                                where=project.locate(("functions", fn.name, field, name)))
            if name in out and out[name] != value:
                raise UnsupportedError(
                    f"functions {origin[name]!r} and {fn.name!r} set {name} differently; an Azure function "
                    "app has one set of app settings",
                    fix=f"give {name} the same value in both, or rename it in one",
                    where=project.locate(("functions", fn.name, field, name)),
                )
            out[name], origin[name] = value, fn.name
    return out


def user_requirements(project: Project) -> list[str]:
    """The service's requirement lines, without azure-functions (the generated file lists it first)."""
    path = project.requirements_file
    if path is None:
        return []
    return [line for line in read_requirements(path) if package_name(line) != "azure-functions"]


def render_app(project: Project, model: AppModel) -> dict[str, bytes]:
    shims: dict[str, tuple[str, str, str, dict[str, object]]] = {}
    resolved = {f.name: f for f in project.functions_for("azure")}
    for f in model.functions:
        fn = resolved[f.spec_function]
        shims.setdefault(f.shim_var, (f.shim_var, fn.handler, f.spec_function, fn.shim_options))
    files = {
        "function_app.py": render("azure", "function_app.py.j2", spec_file=project.spec_path.name,
                                  service=project.name, shims=list(shims.values()),
                                  functions=list(model.functions)),
        "host.json": render("azure", "host.json.j2", host=model.host),
        "requirements.txt": render("azure", "requirements.txt.j2",
                                   user_requirements=user_requirements(project)),
        ".funcignore": render("azure", "funcignore.j2"),
    }
    return {name: text.encode() for name, text in files.items()}
