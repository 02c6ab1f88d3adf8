"""Carry a service's Python dependencies over to `requirements:`.

Sources, as serverless-python-requirements reads them: `requirements.txt` (or `custom.pythonRequirements.
fileName`) beside serverless.yml, the same file inside each function's `module:` folder, else a Pipfile
(`Pipfile.lock` pins when present) or a pyproject.toml (Poetry's `[tool.poetry.dependencies]` or PEP 621's
`[project] dependencies`). Lambda's Python runtime also brings boto3 and its dependencies, which code often
imports without declaring; the other targets need them installed, so they are added when some module
imports them. When one requirements file already says everything, the spec points at it; otherwise a
`requirements.multicloud.txt` is generated that includes (`-r`) the original files, so they stay the source
of truth, and adds what was converted. Whatever cannot be converted (git/path dependencies, `||` ranges,
TOML without Python 3.11's tomllib) is listed.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .report import Notes

GENERATED = "requirements.multicloud.txt"
SKIP_DIRS = {"node_modules", ".serverless", ".venv", "venv", "env", ".requirements", ".git", "__pycache__",
             "tests", "build", "dist", "site-packages", ".tox", ".mypy_cache"}
MAX_SCAN = 3000
# top-level module -> the package Lambda's Python runtime provides it from
LAMBDA_PROVIDED = {"boto3": "boto3", "botocore": "botocore", "s3transfer": "s3transfer", "jmespath": "jmespath",
                   "dateutil": "python-dateutil", "urllib3": "urllib3", "six": "six"}
BOTO3_BRINGS = {"botocore", "s3transfer", "jmespath", "python-dateutil", "urllib3", "six"}
NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass
class Dependencies:
    requirements: str | None = None
    files: dict[str, str] = field(default_factory=dict)


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(path: Path, depth: int = 0) -> set[str]:
    """Package names a requirements file asks for, following `-r` includes."""
    names: set[str] = set()
    if depth > 5 or not path.is_file():
        return names
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines()[:5000]:
        line = line.split(" #", 1)[0].strip()
        if line.startswith(("-r ", "--requirement ", "-r", "--requirement=")):
            target = re.sub(r"^(-r|--requirement)[ =]?", "", line).strip()
            names |= requirement_names(path.parent / target, depth + 1)
        elif line and not line.startswith(("#", "-")):
            match = NAME.match(line)
            if match:
                names.add(normalize(match.group(1)))
    return names


def carry(root: Path, settings: Any, modules: list[str], notes: Notes) -> Dependencies:
    """Dependencies of the service at `root`; `settings` is custom.pythonRequirements; `modules` the
    `module:` folders of the converted functions."""
    opts = settings if isinstance(settings, dict) else {}
    where = ("custom", "pythonRequirements")
    file_name = str(opts["fileName"]) if isinstance(opts.get("fileName"), str) else "requirements.txt"
    includes: list[str] = []
    lines: list[str] = []
    if (root / file_name).is_file():
        includes.append(file_name)
    elif (root / "Pipfile").is_file() and opts.get("usePipenv", True) is not False:
        lines += _pipfile(root, notes)
    elif (root / "pyproject.toml").is_file():
        lines += _pyproject(root, opts.get("usePoetry", True) is not False, notes)
    for module in dict.fromkeys(m.strip("/") for m in modules):
        rel = f"{module}/{file_name}"
        if (root / rel).is_file():
            includes.append(rel)
    if opts.get("vendor"):
        notes.add((*where, "vendor"), f"serverless-python-requirements copied {opts['vendor']}/ into the package "
                  "root", f"move those packages into requirements, or import them as "
                  f"{str(opts['vendor']).strip('./')}.<name>")
    other = sorted(k for k in opts if k not in ("fileName", "usePipenv", "usePoetry", "vendor"))
    if other:
        notes.info(where, f"packaging options with no equivalent: {', '.join(other)}",
                   "nothing: every target installs wheels for its own platform (no Docker needed)")
    declared: set[str] = set()
    for rel in includes:
        declared |= requirement_names(root / rel)
    declared |= {normalize(m.group(1)) for line in lines if (m := NAME.match(line))}
    provided = _lambda_provided(root, declared)
    if provided:
        notes.info("(dependencies)", f"the code imports {', '.join(provided)}, which Lambda's runtime provides "
                                     f"without a requirement; added to {GENERATED} for the other targets")
    if not lines and not provided:
        if len(includes) == 1:
            return Dependencies(includes[0])
        if not includes:
            return Dependencies()
    text = ["# Generated by `multicloud import`: the dependencies of every function, for every target.",
            *(f"-r {rel}" for rel in includes), *lines,
            *(f"{name}  # provided by Lambda's runtime; the other targets install it" for name in provided)]
    return Dependencies(GENERATED, {GENERATED: "\n".join(text) + "\n"})


def _lambda_provided(root: Path, declared: set[str]) -> list[str]:
    imported: set[str] = set()
    for index, path in enumerate(_python_files(root)):
        if index >= MAX_SCAN:
            break
        try:
            tree = ast.parse(path.read_bytes()) if path.stat().st_size < 1_000_000 else None
        except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for node in ast.walk(tree) if tree else ():
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module.split(".")[0])
    wanted = {LAMBDA_PROVIDED[m] for m in imported if m in LAMBDA_PROVIDED}
    if "boto3" in declared or "boto3" in wanted:
        wanted -= BOTO3_BRINGS
    return sorted(w for w in wanted if normalize(w) not in declared)


def _python_files(root: Path) -> list[Path]:
    out: list[Path] = []
    stack = [root]
    while stack and len(out) < MAX_SCAN:
        folder = stack.pop()
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.is_symlink():
                continue
            if entry.is_dir() and entry.name not in SKIP_DIRS and not entry.name.startswith("."):
                stack.append(entry)
            elif entry.suffix == ".py" and entry.is_file():
                out.append(entry)
    return out


def _toml(path: Path, notes: Notes) -> dict[str, Any] | None:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        notes.add(path.name, "not read: reading TOML needs Python 3.11 or later",
                  "list the dependencies in requirements.txt, or import on Python 3.11+")
        return None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8", errors="replace"))
    except (tomllib.TOMLDecodeError, OSError) as exc:
        notes.add(path.name, f"not read: {exc}", "fix the file, or list the dependencies in requirements.txt")
        return None
    return data if isinstance(data, dict) else None


def _pipfile(root: Path, notes: Notes) -> list[str]:
    lock = root / "Pipfile.lock"
    if lock.is_file():
        try:
            data = json.loads(lock.read_text(encoding="utf-8", errors="replace"))
            default = data.get("default") if isinstance(data, dict) else None
        except (ValueError, OSError):
            default = None
        if isinstance(default, dict):
            out = []
            for name, spec in default.items():
                if isinstance(spec, dict) and isinstance(spec.get("version"), str):
                    marker = f"; {spec['markers']}" if isinstance(spec.get("markers"), str) else ""
                    out.append(f"{name}{spec['version']}{marker}")
                else:
                    notes.add(("Pipfile.lock", "default", name), "not converted (not a version from an index)",
                              "add it to requirements by hand")
            notes.info("Pipfile.lock", "its pinned default packages were carried over")
            return out
    data = _toml(root / "Pipfile", notes)
    packages = data.get("packages") if data else None
    if not isinstance(packages, dict):
        return []
    notes.info("Pipfile", "its [packages] were carried over ([dev-packages] are not shipped)")
    return [line for name, spec in packages.items() if (line := _pip_line(name, spec, "Pipfile", notes))]


def _pyproject(root: Path, use_poetry: bool, notes: Notes) -> list[str]:
    data = _toml(root / "pyproject.toml", notes)
    if not data:
        return []
    poetry = data.get("tool", {}).get("poetry", {}) if isinstance(data.get("tool"), dict) else {}
    deps = poetry.get("dependencies") if isinstance(poetry, dict) else None
    if use_poetry and isinstance(deps, dict):
        notes.info("pyproject.toml", "Poetry's main dependencies were carried over (dev groups are not shipped)")
        return [line for name, spec in deps.items()
                if name.lower() != "python" and (line := _pip_line(name, spec, "pyproject.toml", notes, poetry=True))]
    project = data.get("project")
    if isinstance(project, dict) and isinstance(project.get("dependencies"), list):
        notes.info("pyproject.toml", "[project] dependencies were carried over")
        return [d for d in project["dependencies"] if isinstance(d, str)]
    return []


def _pip_line(name: str, spec: Any, where: str, notes: Notes, *, poetry: bool = False) -> str | None:
    extras, marker = "", ""
    if isinstance(spec, dict):
        if any(k in spec for k in ("git", "path", "url", "file", "editable")):
            notes.add((where, name), "not converted: a git, path or URL dependency", "add it to requirements by hand")
            return None
        if spec.get("optional") is True:
            notes.info((where, name), "an optional dependency (extra): not installed")
            return None
        if isinstance(spec.get("extras"), list):
            extras = "[" + ",".join(str(e) for e in spec["extras"]) + "]"
        if isinstance(spec.get("markers"), str):
            marker = f"; {spec['markers']}"
        spec = spec.get("version", "*")
    if not isinstance(spec, str):
        notes.add((where, name), f"not converted: {spec!r} is not a version constraint",
                  "add it to requirements by hand")
        return None
    constraint = _poetry_constraint(spec) if poetry else ("" if spec.strip() == "*" else spec.strip())
    if constraint is None:
        notes.add((where, name), f"not converted: constraint {spec!r}", "add it to requirements by hand")
        return None
    return f"{name}{extras}{constraint}{marker}"


def _poetry_constraint(spec: str) -> str | None:
    """Poetry's ^, ~ and bare versions -> PEP 440; None when it cannot be said in one specifier set."""
    spec = spec.strip()
    if spec in ("*", ""):
        return ""
    if "||" in spec:
        return None
    out = []
    for part in (p.strip() for p in spec.split(",")):
        match = re.fullmatch(r"([\^~]=?|==|!=|>=|<=|>|<)?\s*(\d+(?:\.\d+)*)(\.\*)?", part)
        if not match:
            return None
        op, version, star = match.group(1) or "", match.group(2), match.group(3) or ""
        nums = [int(n) for n in version.split(".")]
        if op == "^":
            first = next((i for i, n in enumerate(nums) if n), len(nums) - 1)
            upper = nums[:first] + [nums[first] + 1]
            out.append(f">={version},<{'.'.join(map(str, upper))}")
        elif op == "~":
            upper = [nums[0] + 1] if len(nums) == 1 else [nums[0], nums[1] + 1]
            out.append(f">={version},<{'.'.join(map(str, upper))}")
        elif op == "~=":
            out.append(f"~={version}")
        else:
            out.append(f"{op or '=='}{version}{star}")
    return ",".join(out)
