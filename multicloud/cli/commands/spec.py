"""Commands about the spec itself: init, validate, schema, capabilities (no cloud, no build)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from multicloud.cli.base import (
    PathArg,
    TargetOpt,
    app,
    load_project,
    run,
    targets_of,
)

if TYPE_CHECKING:

    from multicloud.cli.output import Output


@app.command()
def init(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Service name; also the new folder's name.")],
    directory: Annotated[Path | None, typer.Option("--dir", help="Where to create it.")] = None,
) -> None:
    """Scaffold a working project: spec, handler and a test."""

    def work(out: Output) -> int:
        from multicloud.scaffold import scaffold

        dest = directory or Path(name)
        files = scaffold(name, dest)
        out.result({"created": [str(f) for f in files], "path": str(dest)},
                   f"created {dest}/ ({', '.join(f.name for f in files)})\n"
                   f"next: multicloud validate {dest} && multicloud deploy {dest} --target local")
        return 0

    run(ctx, work)


@app.command()
def validate(ctx: typer.Context, path: PathArg = Path("."), target: TargetOpt = None) -> None:
    """Check the spec (and what each target can do) without building anything."""

    def work(out: Output) -> int:
        project = load_project(path)
        targets = targets_of(project, target)
        from multicloud.errors import SpecError, SpecErrors
        from multicloud.orchestrate import provider_for

        errors: list[SpecError] = []
        for t in targets:
            try:
                project.check_target(t)
                provider_for(project, t).check()
            except SpecErrors as exc:
                errors += exc.errors
            except SpecError as exc:
                errors.append(exc)
        if errors:
            raise SpecErrors(errors)
        fns = list(project.spec.functions)
        out.result({"ok": True, "service": project.name, "spec": str(project.spec_path), "targets": targets,
                    "functions": fns},
                   f"{project.spec_path}: valid ({len(fns)} function(s); targets: {', '.join(targets)})")
        return 0

    run(ctx, work)


@app.command()
def schema(ctx: typer.Context) -> None:
    """Print the spec's JSON Schema (for editors; see the README for VS Code)."""

    def work(out: Output) -> int:
        import json

        from multicloud.spec.schema import json_schema

        sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")
        return 0

    run(ctx, work)


@app.command()
def capabilities(ctx: typer.Context) -> None:
    """Show what each target can do: triggers and limits."""

    def work(out: Output) -> int:
        from dataclasses import asdict

        from multicloud.capabilities import table

        data = {t: {**asdict(c), "triggers": sorted(c.triggers), "secret_schemes": sorted(c.secret_schemes)}
                for t, c in table().items()}
        lines = []
        for t, c in table().items():
            lines.append(f"{t}: triggers {', '.join(sorted(c.triggers))}; memory {c.memory_mb[0]}-"
                         f"{c.memory_mb[1]} MB; timeout <= {c.max_timeout_s} s (http {c.max_http_timeout_s} s);"
                         f" payload {c.payload_bytes // 2**20} MB\n    {c.notes}")
        out.result(data, "\n".join(lines))
        return 0

    run(ctx, work)
