"""Reading a Serverless service's files into plain, bounded data.

`serverless.yml` is YAML with CloudFormation short tags (`!Ref X`, `!GetAtt X.Arn`, `!Sub ...`) that
`yaml.safe_load` rejects; they are read as the long form (`{"Ref": "X"}`, `{"Fn::GetAtt": ["X", "Arn"]}`).
Whatever the input, the result is a tree of dict/list/str/int/float/bool/None with string keys, at most
`MAX_NODES` values and `MAX_DEPTH` levels deep: YAML aliases that would expand without bound (a "billion
laughs" file), recursive anchors, odd scalar types (dates, binary) and huge files end in a `SpecError`
naming the file, never in a traceback or an endless walk. `${file(...)}` targets and `.env` files are read
through the same functions.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import re
from pathlib import Path
from typing import Any

import yaml

from multicloud.errors import SpecError

MAX_BYTES = 4 * 1024 * 1024
MAX_NODES = 200_000
MAX_DEPTH = 120
JS_CONFIGS = (".js", ".ts", ".cjs", ".mjs")


class _CfnLoader(yaml.SafeLoader):
    """A SafeLoader that reads CloudFormation short-form tags as their long form."""


def _cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - PyYAML has no other node kinds
        value = None
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


def parse_yaml(text: str, where: str) -> Any:
    """YAML (or JSON) text -> plain bounded data; SpecError on anything else."""
    if len(text) > MAX_BYTES:
        raise SpecError(f"the file is {len(text) // 1024} KB; the importer reads at most {MAX_BYTES // 1024} KB",
                        fix="split it, or import the output of `serverless print`", where=where)
    from multicloud.spec.loader import check_bounded

    try:
        # alias bombs and deep nesting are refused while streaming, before anything is built
        check_bounded(text, where, _CfnLoader, max_nodes=MAX_NODES, max_depth=MAX_DEPTH, max_scalar=MAX_BYTES)
        raw = yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        place = f"{where}:{mark.line + 1}:{mark.column + 1}" if mark is not None else where
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"invalid YAML: {problem}", fix="fix the file's syntax", where=place) from None
    except RecursionError:
        raise SpecError("the YAML nests too deeply to read", fix="flatten the file", where=where) from None
    return plain(raw, where)


def read_yaml_file(path: Path, where: str) -> Any:
    """Read and parse one YAML/JSON file; SpecError when it is missing, unreadable or too big."""
    try:
        if path.exists() and not path.is_file():  # a pipe or a device would block or never end
            raise SpecError(f"{path} is not a regular file (a directory, pipe, socket or device)",
                            fix="pass the path of serverless.yml", where=where)
        with path.open("rb") as fh:
            data = fh.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise SpecError(f"{path.name} is over {MAX_BYTES // 1024} KB, more than the importer reads",
                            fix="import the output of `serverless print` instead", where=where)
        text = data.decode("utf-8-sig")
    except FileNotFoundError as exc:
        raise SpecError(f"file not found: {path}", fix="pass the path of serverless.yml", where=where) from exc
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path.name} is not UTF-8 text", fix="save it as UTF-8", where=where) from exc
    except OSError as exc:
        raise SpecError(f"cannot read {path}: {exc.strerror or exc}", where=where) from exc
    return parse_yaml(text, where)


def read_service(path: Path) -> dict[str, Any]:
    """The service definition at `path` (a file, or a folder holding serverless.yml/.yaml/.json)."""
    if path.is_dir():
        for name in ("serverless.yml", "serverless.yaml", "serverless.json", "serverless.ts", "serverless.js"):
            if (path / name).exists():
                path = path / name
                break
        else:
            raise SpecError(f"{path} is a directory with no serverless.yml in it", fix="pass the path of "
                            "serverless.yml", where=str(path))
    if path.suffix in JS_CONFIGS:
        raise SpecError(
            f"{path.name} is code, which the importer does not run",
            fix="print the resolved configuration with `serverless print > serverless.yml` and import that",
            where=str(path))
    doc = read_yaml_file(path, str(path))
    if not isinstance(doc, dict):
        raise SpecError("not a Serverless Framework service (the file is not a mapping of settings)",
                        fix="pass the service's serverless.yml", where=str(path))
    return doc


DOTENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*?)\s*$")


def read_dotenv(path: Path) -> dict[str, str]:
    """`KEY=value` lines of a .env file (quotes stripped, `#` comments skipped), as Serverless's dotenv reads."""
    values: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8", errors="replace")[:MAX_BYTES]
    except OSError:
        return values
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        match = DOTENV_LINE.match(line)
        if not match:
            continue
        value = match.group(2)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].rstrip()
        values[match.group(1)] = value
    return values


def plain(value: Any, where: str) -> Any:
    """A bounded, acyclic copy with string keys and JSON-like scalars."""
    budget = [MAX_NODES]
    return _plain(value, where, budget, set(), 0)


def _plain(value: Any, where: str, budget: list[int], active: set[int], depth: int) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise SpecError(f"the file expands to more than {MAX_NODES} values (YAML aliases repeated?)",
                        fix="remove the repeated anchors/aliases", where=where)
    if depth > MAX_DEPTH:
        raise SpecError(f"the file nests more than {MAX_DEPTH} levels deep", fix="flatten the file", where=where)
    if isinstance(value, (dict, list)):
        if id(value) in active:
            raise SpecError("the file refers to itself through a YAML alias (a recursive anchor)",
                            fix="remove the recursive anchor", where=where)
        active.add(id(value))
        try:
            if isinstance(value, dict):
                return {_key(k): _plain(v, where, budget, active, depth + 1) for k, v in value.items()}
            return [_plain(v, where, budget, active, depth + 1) for v in value]
        finally:
            active.discard(id(value))
    return _scalar(value)


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    scalar = _scalar(key)
    return scalar if isinstance(scalar, str) else str(scalar)


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, (set, frozenset, tuple)):
        return [_scalar(v) for v in value]
    return str(value)
