"""Commands that translate to and from other tools' formats: import (Serverless Framework), export (SAM)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from multicloud.cli.base import (
    OneTarget,
    PathArg,
    app,
    run,
    target_provider,
)

if TYPE_CHECKING:

    from multicloud.cli.output import Output


@app.command("import")
def import_(
    ctx: typer.Context,
    source: Annotated[Path, typer.Argument(help="serverless.yml of a Serverless Framework service (or its folder).")],
    out: Annotated[Path | None, typer.Option("--out", help="Where to write (default: multicloud.yaml beside it).")]
    = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
    stage: Annotated[str | None, typer.Option("--stage", help="Stage for ${opt:stage} / ${sls:stage} (default: "
                                                               "the provider's, else dev).")] = None,
    region: Annotated[str | None, typer.Option("--region", help="Region for ${opt:region} (default: the "
                                                                 "provider's, else us-east-1).")] = None,
) -> None:
    """Convert a Serverless Framework service to multicloud.yaml; list plainly what did not carry over."""

    def work(output: Output) -> int:
        from multicloud.errors import UsageError
        from multicloud.migrate import convert_file
        from multicloud.spec.loader import parse_spec

        conversion = convert_file(source, stage=stage, region=region)
        folder = (source if source.is_dir() else source.parent).resolve()
        dest = out or folder / "multicloud.yaml"
        if dest.resolve().parent != folder:
            raise UsageError(f"{dest} is not beside the service: handler paths are relative to {folder}",
                             fix="write it into the service's folder (--out NAME.yaml there)")
        writes = {dest: conversion.to_yaml(), **{folder / n: t for n, t in conversion.files.items()}}
        for path, text in writes.items():
            if path.exists() and not force and path.read_text(errors="replace") != text:
                raise UsageError(f"{path} exists", fix="pass --force to overwrite, or --out another name")
        parse_spec(writes[dest], str(dest))  # the result must be a valid spec
        for path, text in writes.items():
            path.write_text(text)
        notes = conversion.notes
        lines = [f"wrote {dest} ({len(conversion.functions)} function(s))"]
        lines += [f"wrote {folder / n}" for n in conversion.files]
        for kind, title in (("review", "not converted or different (review)"), ("unresolved", "not resolved"),
                            ("info", "carried over differently")):
            chosen = [n for n in notes if n.kind == kind]
            if chosen:
                lines.append(f"{title} ({len(chosen)}):")
                lines += [f"  - {n}" for n in chosen]
        output.result({"path": str(dest), "functions": conversion.functions,
                       "files": [str(folder / n) for n in conversion.files],
                       "not_converted": [n.to_dict() for n in notes]}, "\n".join(lines))
        return 0

    run(ctx, work)


@app.command()
def export(
    ctx: typer.Context,
    path: PathArg = Path("."),
    target: OneTarget = "aws",
    fmt: Annotated[str, typer.Option("--format", help="e.g. sam (aws).")] = "sam",
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write into.")] = Path("export"),
) -> None:
    """Write the deployment in another tool's format (e.g. a SAM template)."""

    def work(out: Output) -> int:
        project, t, provider = target_provider(path, target)
        files = provider.export(fmt, out_dir)
        out.result({"files": [str(f) for f in files]}, "\n".join(str(f) for f in files))
        return 0

    run(ctx, work)
