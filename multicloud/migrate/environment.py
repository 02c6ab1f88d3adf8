"""A function's `environment:` (the provider's merged with its own) -> multicloud `env` and `secrets`.

Plain values carry over. `${ssm:/path}` becomes a per-target secret reference (ssm: or secretsmanager: on
aws, env: on local and docker). Nothing that is not a literal is ever written as text: CloudFormation values
(`!Ref`, `!GetAtt`, `Fn::Join`...) and unresolved variables are listed instead; a secret-looking value read
from the shell becomes an `env:` reference, never a copy. Values the private runtime could not share (one
process serves every function) and paths into Lambda's file system are listed too.
"""

from __future__ import annotations

import re
from typing import Any

from .cfn import Resources
from .report import Notes, Path_, dotted
from .variables import Resolver

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SECRET_NAME = re.compile(r"(?i)(secret|passw|pwd|token|api_?key|private_?key|credential)|_KEY$")
SSM_VALUE = re.compile(r"^\$\{ssm(?:\([^)]*\))?:\s*(/?[^},~\s]+)(?:~[a-z]+)?\s*(?:,[^}]*)?\}$")


class Environment:
    def __init__(self, notes: Notes, resolver: Resolver, resources: Resources, provider_env: Any) -> None:
        self.notes = notes
        self.resolver = resolver
        self.resources = resources
        self.provider_env = provider_env
        self.consumed: set[str] = set()  # key paths and ${ssm:...} expressions already reported where used

    def convert(self, path: Path_, own: Any) -> tuple[dict[str, str], dict[str, Any]]:
        merged: dict[str, tuple[Path_, Any]] = {}
        for where, block in ((("provider", "environment"), self.provider_env),
                             ((*path, "environment"), own)):
            if block is None:
                continue
            if not isinstance(block, dict):
                self.notes.add(where, f"not a mapping of variables ({_short(block)}): not converted",
                               "set the variables under env: by hand")
                self.consumed.add(dotted(where))
                continue
            merged.update({str(k): ((*where, str(k)), v) for k, v in block.items()})
        env: dict[str, str] = {}
        secrets: dict[str, Any] = {}
        for name, (where, value) in merged.items():
            self.consumed.add(dotted(where))
            if not ENV_NAME.match(name):
                self.notes.add(where, "not a valid variable name: not converted", "rename it")
                continue
            if value is None:
                self.notes.info(where, "empty (null): not set")
                continue
            if isinstance(value, (dict, list)):
                self.notes.add(where, f"a CloudFormation value ({_short(value)}), not a literal: not converted",
                               self._cfn_env_hint(value))
                continue
            text = ("true" if value else "false") if isinstance(value, bool) else str(value)
            ssm = SSM_VALUE.match(text)
            if ssm:
                secrets[name] = self._secret_ref(where, name, ssm.group(1))
                self.consumed.add(text)  # the ${ssm:...} itself, wherever it was written
                continue
            if "${" in text:
                why = next((u.reason for u in self.resolver.unresolved if u.where == dotted(where)), "")
                self.notes.add(where, f"{text} was not resolved{': ' + why if why else ''}; the variable was left out",
                               "set it under env: (or secrets:) per target", "unresolved")
                continue
            if re.search(r"/var/(task|runtime)|/opt/python", text):
                self.notes.add(where, f"{text} points into Lambda's file system, which the other targets do not "
                               "have", "set it per target under targets.<t>.env, or drop it")
            sources = self.resolver.sources.get(where, set())
            if SECRET_NAME.search(name) and sources & {"env", "file", "param"}:
                read = re.fullmatch(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)[^}]*\}", str(self._raw(where)) or "")
                if read:
                    secrets[name] = {"local": f"env:{read.group(1)}", "docker": f"env:{read.group(1)}"}
                    self.notes.add(where, f"read from the deploying shell's {read.group(1)}: a secret reference for "
                                   "local and docker", "aws: store it in SSM or Secrets Manager and add "
                                   "`aws: ssm:/...`; azure: a Key Vault reference; gcp: a Secret Manager reference")
                else:
                    self.notes.add(where, "looks like a secret and came from a variable: its value was not copied "
                                   "into multicloud.yaml", "reference it under secrets: per target")
                continue
            if SECRET_NAME.search(name):
                self.notes.add(where, "looks like a secret written in serverless.yml: kept as a plain setting",
                               "move it to a secret store and reference it under secrets:")
            env[name] = text
        return env, secrets

    def _raw(self, where: Path_) -> Any:
        node: Any = self.resolver.doc
        for key in where:
            if isinstance(node, dict):
                node = node.get(str(key))
            else:
                return None
        return node

    def _secret_ref(self, where: Path_, name: str, parameter: str) -> dict[str, str]:
        prefix = "/aws/reference/secretsmanager/"
        aws = f"secretsmanager:{parameter[len(prefix):]}" if parameter.startswith(prefix) else \
            f"ssm:{parameter if parameter.startswith('/') else '/' + parameter}"
        self.notes.add(where, f"the SSM parameter became secret {name}: {aws} on aws, env:{name} on local and "
                       "docker", f"local/docker: export {name} in the shell that deploys; azure: add a Key Vault "
                       "reference; gcp: a Secret Manager reference", "info")
        return {"aws": aws, "local": f"env:{name}", "docker": f"env:{name}"}

    def _cfn_env_hint(self, value: Any) -> str:
        target = self.resources.target(value)
        if target.resource is not None and target.name:
            return (f"it names {target.resource.type} {target.resource.logical_id} ({target.name!r}): set the "
                    "value each target needs under env: (a queue URL, a table name)")
        return "set the value each target needs under env: or targets.<t>.env"

    def shared(self, functions: dict[str, Any]) -> None:
        seen: dict[str, tuple[str, str]] = {}
        for name, fn in functions.items():
            for var, value in fn.get("env", {}).items():
                if var in seen and seen[var][1] != value:
                    self.notes.add(("functions", name, "environment", var), f"set differently by function "
                                   f"{seen[var][0]}: the private targets (local, docker) run all functions in one "
                                   "process and refuse this", "use one value, or distinct names, for "
                                   "local and docker")
                seen.setdefault(var, (name, value))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
