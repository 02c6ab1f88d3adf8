"""What an import produced: the spec, the files to write beside it and every note about what did not carry over.

A `Note` says where (file and key path), what, and what the user must do (per target where it differs).
Kinds: `review` (behaviour is missing or differs: act on it), `unresolved` (a variable the importer could
not resolve; its value was left out), `info` (carried over differently, nothing to do). Every key of the
service that is not converted produces one, so nothing is dropped silently.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import yaml

Kind = Literal["review", "unresolved", "info"]
Path_ = tuple[str | int, ...]


def dotted(path: Path_ | str) -> str:
    if isinstance(path, str):
        return path
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(service)"


@dataclass(frozen=True)
class Note:
    where: str  # "serverless.yml: functions.api.events[0].http.cors"
    what: str
    todo: str = ""
    kind: Kind = "review"

    def __str__(self) -> str:
        text = f"{self.where}: {self.what}"
        return f"{text}. To do: {self.todo}" if self.todo else text

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


class Notes:
    """Collects notes for one service file, each located by key path."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.items: list[Note] = []

    def add(self, path: Path_ | str, what: str, todo: str = "", kind: Kind = "review") -> None:
        note = Note(f"{self.filename}: {dotted(path)}", what, todo, kind)
        if note not in self.items:
            self.items.append(note)

    def info(self, path: Path_ | str, what: str, todo: str = "") -> None:
        self.add(path, what, todo, "info")


@dataclass
class Conversion:
    spec: dict[str, Any]
    notes: list[Note] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # generated files (name -> text) to write beside the spec
    source: str = "serverless.yml"

    @property
    def functions(self) -> list[str]:
        return list(self.spec.get("functions", {}))

    def notes_of(self, kind: Kind) -> list[Note]:
        return [n for n in self.notes if n.kind == kind]

    def to_yaml(self) -> str:
        header = f"# Converted from {self.source} by `multicloud import`.\n"
        for kind, title in (("review", "Not converted or different (review these)"),
                            ("unresolved", "Variables not resolved (their values were left out)"),
                            ("info", "Carried over differently (for information)")):
            notes = self.notes_of(kind)  # type: ignore[arg-type]
            if notes:
                header += f"# {title}:\n" + "".join(f"#  - {_one_line(str(n))}\n" for n in notes)
        return header + yaml.dump(self.spec, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                                  allow_unicode=True, width=120)


class _Dumper(yaml.SafeDumper):
    """Short lists of plain values (methods, events) on one line: `methods: [GET, POST]`."""


def _sequence(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = len(data) <= 8 and all(isinstance(v, (str, int, float, bool)) and len(str(v)) < 40 for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _sequence)


def _one_line(text: str) -> str:
    """A note as one comment line: control and other unprintable characters escaped (YAML refuses them)."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}"
                   for c in " ".join(text.split()))
