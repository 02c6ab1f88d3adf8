"""Serverless Framework variables (`${source:address, fallback}`), resolved the way `serverless print` would.

Resolved from the file itself and this machine: `${self:a.b}` (any path, nested variables in the address,
`${self:service}`), `${sls:stage}`, `${opt:stage}` / `${opt:region}` (from `--stage` / `--region`, else the
provider's, else dev / us-east-1), `${aws:region}`, `${env:X}` (this shell, then `.env.<stage>` / `.env` when
the service sets `useDotenv`), `${param:x}` (`params.<stage>` then `params.default`), `${file(path):a.b}` for
YAML/JSON files beside it (other files as text). Fallbacks after commas are tried in order: quoted strings,
numbers, booleans, `null` and further variables.

What cannot be known offline (`${ssm:...}`, `${cf:...}`, `${s3:...}`, `${aws:accountId}`, `${construct:...}`,
JavaScript files, a missing value without fallback, a self-reference loop) stays in the text exactly as
written, and is recorded in `unresolved` with the key path where it sits, so the converter can list it or,
for `${ssm:...}` in an environment, turn it into a secret reference. Strings such as `${AWS::Region}` in
`Fn::Sub` are CloudFormation's, not Serverless variables, and are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multicloud.errors import SpecError

from .report import dotted
from .source import read_dotenv, read_yaml_file

MAX_STEPS = 400_000
# source(args):address, source(args) or source:address; `AWS::Region` (CloudFormation's) does not match
VARIABLE_HEAD = re.compile(r"^([a-z][A-Za-z0-9]*)(?:\((.*)\)(?::(.*))?|:(?!:)(.*))$", re.S)
NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
TOKEN = re.compile("\x00(\\d+)\x00")
UNKNOWABLE = {
    "ssm": "an SSM parameter, read by Serverless at deploy time",
    "cf": "a CloudFormation stack output, read at deploy time",
    "s3": "an S3 object, read at deploy time",
    "construct": "an output of a serverless-lift construct",
    "git": "read from git by a plugin",
    "aws": "an account fact read from AWS at deploy time",
    "sls": "a Serverless runtime value",
    "strToBool": "a Serverless function",
}


class _Missing:
    """A variable source had no value: the next fallback is tried. `reason` says why, for the report."""

    def __init__(self, reason: str = "") -> None:
        self.reason = reason


MISSING = _Missing()


@dataclass(frozen=True)
class Unresolved:
    where: str  # dotted key path in the service, e.g. functions.api.environment.TOKEN
    expression: str  # the variable as written, e.g. ${aws:accountId}
    reason: str


@dataclass(frozen=True)
class _Unknowable:
    reason: str


def spans(text: str) -> list[tuple[int, int]]:
    """Top-level `${...}` spans of `text` as (start, end) with end past the closing brace."""
    out: list[tuple[int, int]] = []
    i = 0
    while True:
        start = text.find("${", i)
        if start < 0:
            return out
        depth, j, quote = 0, start, ""
        while j < len(text):
            ch = text[j]
            if quote:
                if ch == quote:
                    quote = ""
            elif ch in "'\"" and depth == 1 and text[j - 1] in ", (":
                quote = ch
            elif text.startswith("${", j):
                depth += 1
                j += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        if j >= len(text):
            return out  # unclosed: plain text
        out.append((start, j + 1))
        i = j + 1


def split_params(inner: str) -> list[str]:
    """`opt:stage, self:x, 'dev'` -> its comma-separated parts (commas inside ${}, () or quotes stay)."""
    parts: list[str] = []
    depth, quote, current = 0, "", []
    for ch in inner:
        if quote:
            current.append(ch)
            if ch == quote:
                quote = ""
            continue
        if ch in "'\"" and not "".join(current).strip():
            quote = ch
        elif ch in "({":
            depth += 1
        elif ch in ")}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    parts.append("".join(current).strip())
    return parts


class Resolver:
    """Resolves every variable of one service document; see the module docstring."""

    def __init__(self, doc: dict[str, Any], *, filename: str, base_dir: Path, stage: str | None = None,
                 region: str | None = None, environ: Mapping[str, str] | None = None) -> None:
        self.doc = doc
        self.filename = filename
        self.base_dir = base_dir
        self.cli_stage = stage
        self.cli_region = region
        self.environ = dict(environ or {})
        self.dotenv: dict[str, str] = {}
        self.dotenv_file: str | None = None
        self.unresolved: list[Unresolved] = []
        self.used_env: set[str] = set()
        self.used_files: set[str] = set()
        self.defaulted: list[str] = []  # opt: values taken from the provider or a default
        self.sources: dict[tuple[str | int, ...], set[str]] = {}
        self._cache: dict[tuple[str | int, ...], Any] = {}
        self._active: set[tuple[str | int, ...]] = set()
        self._tokens: dict[str, str] = {}
        self._files: dict[Path, Any] = {}
        self._computing: set[str] = set()
        self._steps = 0

    # ---- entry points ---------------------------------------------------------------------------------
    def resolve(self) -> Any:
        version = str(self.doc.get("frameworkVersion", "")).lstrip("^~>=< ")
        if self._truthy(self.doc.get("useDotenv")) or version.startswith("4"):
            self._load_dotenv()
        try:
            return self.restore(self.get(()))
        except RecursionError:
            raise SpecError("the service's variables refer to each other too deeply to resolve",
                            fix="simplify the chain of ${self:...} references", where=self.filename) from None

    def restore(self, value: Any) -> Any:
        """Put unresolved variables back as written (they were tokens while resolving)."""
        if isinstance(value, str):
            for _ in range(8):  # a token's text may hold tokens of inner variables
                if "\x00" not in value:
                    break
                value = TOKEN.sub(lambda m: self._tokens.get(m.group(0), ""), value)
            return value
        if isinstance(value, dict):
            return {k: self.restore(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.restore(v) for v in value]
        return value

    @property
    def stage(self) -> str:
        if self.cli_stage:
            return self.cli_stage
        return self._provider_setting("stage", "dev")

    @property
    def region(self) -> str:
        if self.cli_region:
            return self.cli_region
        return self._provider_setting("region", "us-east-1")

    # ---- document walk -----------------------------------------------------------------------------------
    def get(self, path: tuple[str | int, ...]) -> Any:
        """The resolved value at `path` of the service document (MISSING when there is none)."""
        if path in self._cache:
            return self._cache[path]
        self._tick()
        if path in self._active:
            return self._unresolved(path, f"${{self:{dotted(path)}}}", "the value refers to itself")
        self._active.add(path)
        try:
            node = self._node_at(path)
            value = MISSING if node is MISSING else self._resolve_value(node, path)
        finally:
            self._active.discard(path)
        self._cache[path] = value
        return value

    def _node_at(self, path: tuple[str | int, ...]) -> Any:
        node: Any = self.doc
        for i, key in enumerate(path):
            if isinstance(node, str) and "${" in node:
                node = self.get(path[:i])
            if isinstance(node, dict):
                node = node.get(str(key), MISSING)
            elif isinstance(node, list) and str(key).isdigit() and int(key) < len(node):
                node = node[int(key)]
            else:
                return MISSING
            if node is MISSING:
                return MISSING
        return node

    def _resolve_value(self, node: Any, path: tuple[str | int, ...]) -> Any:
        if isinstance(node, dict):
            return {k: v for k in node if (v := self.get((*path, k))) is not MISSING}
        if isinstance(node, list):
            return [self.get((*path, i)) for i in range(len(node))]
        if isinstance(node, str):
            return self.resolve_string(node, path)
        return node

    def _detached(self, value: Any, path: tuple[str | int, ...]) -> Any:
        """Resolve variables inside data that is not part of the service file (a `${file()}` target)."""
        self._tick()
        if isinstance(value, dict):
            return {k: self._detached(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self._detached(v, (*path, i)) for i, v in enumerate(value)]
        if isinstance(value, str):
            return self.resolve_string(value, path)
        return value

    # ---- strings and expressions ------------------------------------------------------------------------
    def resolve_string(self, text: str, path: tuple[str | int, ...]) -> Any:
        found = spans(text)
        if not found:
            return text
        if len(found) == 1 and found[0] == (0, len(text)):
            value = self._expression(text, path)
            return text if isinstance(value, _Missing) else value
        out, pos = [], 0
        for start, end in found:
            out.append(text[pos:start])
            value = self._expression(text[start:end], path)
            if isinstance(value, (_Missing, dict, list)):
                value = self._unresolved(path, text[start:end], "a mapping or list cannot be part of a string"
                                         if not isinstance(value, _Missing) else "no value")
            out.append(self._text(value))
            pos = end
        out.append(text[pos:])
        return "".join(out)

    def _expression(self, written: str, path: tuple[str | int, ...]) -> Any:
        params = split_params(written[2:-1])
        head = VARIABLE_HEAD.match(params[0]) if params and params[0] else None
        if head is None and not (params and params[0].startswith("${")):
            return written  # not a Serverless variable (e.g. CloudFormation's ${AWS::Region})
        first_unknowable: _Unknowable | None = None
        why = ""
        for param in params:
            value = self._param(param, path)
            if isinstance(value, _Unknowable):
                first_unknowable = first_unknowable or value
                break  # what the source would give cannot be known here: the fallback may not apply
            if not isinstance(value, _Missing) and value is not None:
                return value
            if isinstance(value, _Missing) and value.reason and not why:
                why = value.reason
        if first_unknowable is not None:
            fallback = " (its fallback applies only when the value is missing)" if len(params) > 1 else ""
            return self._unresolved(path, written, first_unknowable.reason + fallback)
        first = params[0] if params else ""
        if first in ("opt:stage", "opt:region"):  # Serverless requires the option: use the provider's
            value = self.stage if first == "opt:stage" else self.region
            self.defaulted.append(f"{dotted(path)}: {written} -> {value!r} (pass --{first[4:]} to choose)")
            return value
        fallback = "" if len(params) == 1 else " (nor any fallback)"
        return self._unresolved(path, written, (why or f"{first or 'it'} has no value") + fallback)

    def _param(self, param: str, path: tuple[str | int, ...]) -> Any:
        self._tick()
        if len(param) >= 2 and param[0] == param[-1] and param[0] in "'\"":
            return self.resolve_string(param[1:-1], path)
        if param.startswith("${") and spans(param) == [(0, len(param))]:
            return self._expression(param, path)
        if "${" in param:  # an address built from other variables: resolve those first
            param_value = self.resolve_string(param, path)
            if not isinstance(param_value, str) or "\x00" in param_value:
                return _Unknowable("it is built from a value that cannot be resolved")
            param = param_value
        if NUMBER.match(param):
            return float(param) if "." in param else int(param)
        if param in ("true", "false"):
            return param == "true"
        if param == "null":
            return None
        head = VARIABLE_HEAD.match(param)
        if head is None:
            return param  # a bare word (Serverless v1 accepted unquoted fallbacks)
        source, args, address = head.group(1), head.group(2), (head.group(3) or head.group(4) or "").strip()
        self.sources.setdefault(path, set()).add(source)
        return self._source(source, args, address, path)

    def _source(self, source: str, args: str | None, address: str, path: tuple[str | int, ...]) -> Any:
        if source == "self":
            return self._self(address, path)
        if source == "opt":
            return {"stage": self.cli_stage, "region": self.cli_region}.get(address) or _Missing(
                f"option --{address} was not given")
        if source == "env":
            if address in self.environ:
                self.used_env.add(address)
                return self.environ[address]
            if address in self.dotenv:
                self.used_env.add(address)
                return self.dotenv[address]
            dotenv = f" nor in {self.dotenv_file}" if self.dotenv_file else ""
            return _Missing(f"{address} is not set in this shell's environment{dotenv}")
        if source == "sls" and address == "stage":
            return self.stage
        if source == "aws" and address == "region":
            return self.region
        if source == "aws" and address == "partition":
            return "aws"
        if source == "param":
            return self._param_value(address)
        if source == "file" and args is not None:
            return self._file(args.strip(), address, path)
        return _Unknowable(UNKNOWABLE.get(source, f"`{source}:` is not a variable source the importer knows"))

    def _self(self, address: str, path: tuple[str | int, ...]) -> Any:
        keys: tuple[str | int, ...] = tuple(_key(p) for p in address.split(".") if p != "") if address else ()
        if keys[:1] == ("service",) and len(keys) == 1 and isinstance(self.doc.get("service"), dict):
            keys = ("service", "name")
        value = self.get(keys)
        self.sources.setdefault(path, set()).update(self.sources.get(keys, set()))
        return _Missing(f"{address or '(the file)'} is not in {self.filename}") if value is MISSING else value

    def _param_value(self, name: str) -> Any:
        for stage in (self.stage, "default"):
            value = self.get(("params", stage, name))
            if value is not MISSING and value is not None:
                return value
        return _Missing(f"params.{self.stage}.{name} and params.default.{name} are not set")

    def _file(self, arg: str, address: str, path: tuple[str | int, ...]) -> Any:
        rel = arg.strip("'\"")
        if "\x00" in rel:
            return _Unknowable("the file name holds a value that cannot be resolved")
        target = (self.base_dir / rel).resolve()
        if target.suffix in (".js", ".cjs", ".mjs", ".ts"):
            return _Unknowable(f"{rel} is code that Serverless runs; the importer does not")
        if target not in self._files:
            if not target.is_file():
                self._files[target] = _Missing(f"{rel} does not exist beside {self.filename}")
            else:
                self.used_files.add(rel)
                self._files[target] = _Unknowable(f"{rel} includes itself")  # while it is being read
                if target.suffix.lower() in (".yml", ".yaml", ".json"):
                    data = read_yaml_file(target, f"{rel} (read by {self.filename})")
                    self._files[target] = self._detached(data, (f"{rel}:",))
                else:
                    self._files[target] = target.read_text(encoding="utf-8", errors="replace")
        value = self._files[target]
        if isinstance(value, (_Unknowable, _Missing)):
            return value
        for key in (k for k in address.split(".") if k) if address else ():
            if isinstance(value, dict) and key in value:
                value = value[key]
            elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
                value = value[int(key)]
            else:
                return _Missing(f"{rel} has no {address}")
        return value

    # ---- helpers -----------------------------------------------------------------------------------------
    def _unresolved(self, path: tuple[str | int, ...], written: str, reason: str) -> str:
        token = f"\x00{len(self._tokens)}\x00"
        self._tokens[token] = written
        shown = self.restore(written)
        record = Unresolved(dotted(path), shown, reason)
        if record not in self.unresolved:
            self.unresolved.append(record)
        return token

    def _provider_setting(self, key: str, default: str) -> str:
        if key in self._computing or ("provider", key) in self._active:
            return default
        self._computing.add(key)
        try:
            value = self.get(("provider", key))
        finally:
            self._computing.discard(key)
        return value if isinstance(value, str) and value and "\x00" not in value else default

    def _load_dotenv(self) -> None:
        for name in (f".env.{self.stage}", ".env"):
            path = self.base_dir / name
            if path.is_file():
                self.dotenv = read_dotenv(path)
                self.dotenv_file = name
                return

    @staticmethod
    def _truthy(value: Any) -> bool:
        return value is True or (isinstance(value, str) and value.lower() == "true")

    @staticmethod
    def _text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return "" if value is None else str(value)

    def _tick(self) -> None:
        self._steps += 1
        if self._steps > MAX_STEPS:
            raise SpecError("the service's variables take too many steps to resolve (a loop of references, or "
                            "a very large file)", fix="simplify the variables, or import `serverless print`'s "
                            "output", where=self.filename)


def _key(part: str) -> str | int:
    return int(part) if part.isdigit() else part
