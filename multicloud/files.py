"""Which files of the service's folder ship in every target's artifact: the default, `include:`, `exclude:`.

Default: every file under the spec's folder except the spec itself, top-level `tests/`, `build/` and
`dist/`, dot-files and dot-folders, virtual environments, caches and `*.pyc`. `include:` globs bring back
files the default leaves out (a fixture under `tests/`, a `.well-known/` file); `exclude:` globs drop
files; exclude wins. Globs are relative to the spec's folder, `/`-separated: `*` and `?` stay within one
path segment, `**` spans any number of them, and a pattern naming a folder covers everything under it
(`tests/fixtures` = `tests/fixtures/**`). Never shipped, whatever the patterns say: `.multicloud/` (our
own state and builds), `.git/`, virtual environments (`.venv/`, `venv/`: built for this machine, not the
target's) and caches (`__pycache__/`, `*.pyc`, tool caches). A file that is a link to somewhere outside
the folder is an error, not a silent copy of, say, `~/.aws/credentials`. Nor is a saved plan
(`multicloud plan --out FILE`, recognised by its first bytes): saving one beside the spec must not change
the artifacts it records. The same function serves every target (multicloud.vendor).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath

from multicloud.errors import SpecError

NEVER = frozenset({".multicloud", ".git", ".venv", "venv", "__pycache__", ".mypy_cache", ".pytest_cache",
                   ".ruff_cache", ".hypothesis"})
DEFAULT_SKIP_TOP = frozenset({"tests", "build", "dist"})
DEFAULT_SKIP_DIRS = frozenset({"node_modules"})
SKIP_SUFFIXES = (".pyc", ".pyo")
SPEC_NAMES = frozenset({"multicloud.yaml", "multicloud.yml"})
PLAN_START = b'{\n  "kind": "multicloud-plan"'  # how a saved plan begins (multicloud.plan.saved.KIND)


def pattern_problem(pattern: str) -> str | None:
    """Why a glob cannot be used (it leaves the folder, or is empty), or None."""
    if not pattern.strip():
        return "an empty pattern"
    if pattern.startswith(("/", "~", "\\")) or re.match(r"^[A-Za-z]:", pattern):
        return f"{pattern!r} is an absolute path"
    if ".." in PurePosixPath(pattern.replace("\\", "/")).parts:
        return f"{pattern!r} leaves the spec's folder"
    return None


def _segments(pattern: str) -> list[str]:
    return [p for p in pattern.strip().replace("\\", "/").strip("/").split("/") if p not in ("", ".")]


@lru_cache(maxsize=1024)
def _segment_regex(segment: str) -> str:
    return "".join("[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c) for c in segment)


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    """A glob as a regex over a posix relative path; a folder pattern also matches what is under it."""
    parts = _segments(pattern)
    out = ""
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "**":
            out += ".*" if last else "(?:.*/)?"
        else:
            out += _segment_regex(part) + ("" if last else "/")
    return re.compile(out + "(?:/.*)?")


def matches(pattern: str, rel: str) -> bool:
    return _regex(pattern).fullmatch(rel) is not None


def _default_skip(rel: str) -> bool:
    parts = rel.split("/")
    if parts[0] in DEFAULT_SKIP_TOP or rel in SPEC_NAMES:
        return True
    if any(p.startswith(".") or p in DEFAULT_SKIP_DIRS or p.endswith(".egg-info") for p in parts):
        return True
    return False


def _could_include(patterns: Iterable[str], rel_dir: str) -> bool:
    """Whether some include pattern may match a file under folder `rel_dir` (so the walk enters it)."""
    segments = rel_dir.split("/")
    for pattern in patterns:
        head = _segments(pattern)
        for index, segment in enumerate(segments):
            if index >= len(head) or head[index] == "**":
                return True  # the pattern names this folder or an ancestor, or spans any depth
            if not re.fullmatch(_segment_regex(head[index]), segment):
                break
        else:
            return True  # the folder is on the pattern's way down
    return False


@dataclass(frozen=True)
class Selection:
    files: dict[str, Path]  # archive name -> file
    unmatched_includes: tuple[str, ...]  # include patterns that brought nothing


def select(root: Path, include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> Selection:
    """The service's files under `root` (sorted archive names), per the rules in the module docstring."""
    root = root.resolve()
    files: dict[str, Path] = {}
    used: set[str] = set()
    seen_dirs: set[Path] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real_dir = Path(dirpath).resolve()
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir
        if real_dir in seen_dirs:  # a link back up the tree: walked once already
            dirnames[:] = []
            continue
        seen_dirs.add(real_dir)
        kept = []
        for name in sorted(dirnames):
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if name in NEVER or any(matches(p, rel) for p in exclude):
                continue
            if _default_skip(rel + "/x") and not _could_include(include, rel):
                continue
            _inside(root, Path(dirpath) / name, rel, folder=True)
            kept.append(name)
        dirnames[:] = kept
        for name in filenames:
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if name.endswith(SKIP_SUFFIXES):
                continue  # compiled for this machine's Python: never shipped
            hits = [p for p in include if matches(p, rel)]
            if _default_skip(rel) and not hits:
                continue
            if any(matches(p, rel) for p in exclude) or (name.endswith(".json") and _saved_plan(Path(dirpath) / name)):
                continue
            used.update(hits)
            files[rel] = _inside(root, Path(dirpath) / name, rel)
    return Selection(dict(sorted(files.items())), tuple(p for p in include if p not in used))


def _saved_plan(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(len(PLAN_START)) == PLAN_START
    except OSError:
        return False  # reported by _inside like any unreadable file


def _inside(root: Path, path: Path, rel: str, *, folder: bool = False) -> Path:
    """The file itself, refusing links that lead out of the folder, loops and unreadable entries."""
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop on Python 3.10-3.12
        why = getattr(exc, "strerror", None) or "a symbolic link loop"
        raise SpecError(f"{rel} cannot be read: {why}", fix="remove or repair it, or list it under `exclude:`",
                        where=str(path)) from exc
    if not real.is_relative_to(root):
        raise SpecError(f"{rel} links to {real}, outside the service's folder",
                        fix="copy the file into the folder, or list it under `exclude:` (it would ship that file)",
                        where=str(path))
    if folder:
        return path
    if not real.is_file():
        raise SpecError(f"{rel} is not a regular file", fix="remove it or list it under `exclude:`", where=str(path))
    return path
