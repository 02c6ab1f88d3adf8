"""The importer's last step: what it wrote must pass multicloud's own model and checks.

`validated` runs the spec through `Spec` (pydantic) and `check_project` (handler files, routes); a function
either refuses is left out and listed with the validator's own message, and the rest is validated again.
Only a problem outside every function (a bug in the importer) is an error.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from multicloud.errors import Location, SpecError
from multicloud.spec.checks import check_project
from multicloud.spec.models import Spec

from .report import Notes, dotted


def validated(spec: dict[str, Any], root: Path, notes: Notes) -> dict[str, Any]:
    """Validate with multicloud's own model and checks; leave out (and list) any function they refuse."""
    for _ in range(len(spec["functions"]) + 1):
        try:
            model = Spec.model_validate(spec)
        except ValidationError as exc:
            if not _drop(spec, [(tuple(e["loc"]), e["msg"]) for e in exc.errors()], notes):
                raise SpecError(f"the converted spec is not valid: {exc.errors()[0]['msg']}",
                                where=f"{notes.filename}: {dotted(tuple(exc.errors()[0]['loc']))}") from exc
            continue
        errors = check_project(model, root, lambda p: Location(notes.filename, field=dotted(p)))
        problems = [(tuple(_field_path(e.where)), e.what) for e in errors]
        if not problems:
            return spec
        if not _drop(spec, problems, notes):
            raise SpecError(f"the converted spec does not pass its checks: {problems[0][1]}",
                            where=notes.filename)
    raise SpecError("the converted spec could not be validated", where=notes.filename)


def _drop(spec: dict[str, Any], problems: list[tuple[tuple[Any, ...], str]], notes: Notes) -> bool:
    dropped = False
    for loc, message in problems:
        if len(loc) >= 2 and loc[0] == "functions" and loc[1] in spec["functions"]:
            del spec["functions"][loc[1]]
            notes.add(("functions", loc[1]), f"left out: multicloud refuses it ({message})",
                      "fix it in multicloud.yaml")
            dropped = True
    if dropped and not spec["functions"]:
        raise SpecError("no function of this service passes multicloud's checks", where=notes.filename)
    return dropped


def _field_path(where: object) -> list[str]:
    text = where.field if isinstance(where, Location) and where.field else ""
    return [p for p in re.split(r"[.\[\]]+", text) if p]
