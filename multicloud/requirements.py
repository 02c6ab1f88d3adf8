"""A service's dependencies: one file, one rule, every target.

The rule (README, "Dependencies"): dependencies are listed in the file `requirements:` names, or, when
the spec names none, in `requirements.txt` beside the spec if it exists. Every target installs exactly
those lines for its own platform: aws, azure, docker and local install wheels at build time; gcp hands
the lines to Cloud Build. `-r other.txt` includes are followed (relative to the including file). Lines
that point at local paths (`-e ./lib`, `./pkg`, `file:`) work where the build installs them (aws,
azure, docker, local) and are refused on gcp, whose builder cannot see this machine
(`local_path_lines`). The file itself is never a generated-file clash: azure and gcp generate their own
`requirements.txt` that carries its lines.
"""

from __future__ import annotations

import re
from pathlib import Path

from multicloud.errors import SpecError

DEFAULT_NAME = "requirements.txt"
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_LOCAL = ("-e", "--editable", "file:", ".", "/", "~")


def requirements_file(root: Path, named: str | None) -> Path | None:
    """The file the rule picks: `requirements:` if given (it must exist), else requirements.txt if present."""
    if named:
        return (root / named).resolve()
    default = root / DEFAULT_NAME
    return default.resolve() if default.is_file() else None


def read_requirements(path: Path) -> list[str]:
    """Requirement lines without comments or blanks, `-r` includes inlined; located SpecErrors."""
    return [line for line, _where in located_lines(path)]


def located_lines(path: Path, seen: frozenset[Path] = frozenset()) -> list[tuple[str, str]]:
    """(line, "file:number") of every requirement line, `-r` includes inlined."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise SpecError(f"cannot read requirements file: {why}", fix="check `requirements:` in the spec",
                        where=str(path)) from exc
    out: list[tuple[str, str]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        include = _included(line)
        if include is not None:
            target = (path.parent / include).resolve()
            if target in seen or target == path.resolve():
                raise SpecError("requirements files include each other", fix="remove one of the -r lines",
                                where=f"{path}:{number}")
            out += located_lines(target, seen | {path.resolve()})
        else:
            out.append((line, f"{path}:{number}"))
    return out


def _included(line: str) -> str | None:
    for prefix in ("--requirement=", "--requirement ", "-r "):
        if line.startswith(prefix):
            return line[len(prefix):].strip() or None
    if line.startswith("-r") and len(line) > 2 and not line[2].isspace():
        return line[2:].strip()
    return None


def is_local_path(line: str) -> bool:
    """A line that installs from this machine's disk rather than from a package index."""
    return line.startswith(_LOCAL) or " @ file:" in line or line.startswith(("-c", "--constraint"))


def local_path_lines(path: Path) -> list[tuple[str, str]]:
    """(line, where) of each line a remote builder (gcp's Cloud Build) cannot install."""
    return [(line, where) for line, where in located_lines(path) if is_local_path(line)]


def package_name(line: str) -> str | None:
    """The canonical (PEP 503) project name a requirement line installs, when it names one."""
    if line.startswith("-"):
        return None
    match = _NAME.match(line)
    return re.sub(r"[-_.]+", "-", match.group(1)).lower() if match else None
