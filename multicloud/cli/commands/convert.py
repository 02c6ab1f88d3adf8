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
    source: Annotated[Path, typer.Argument(help="serverless.yml of a Serverless Framework service.")],
    out: Annotated[Path | None, typer.Option("--out", help="Where to write (default: multicloud.yaml beside it).")]
    = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Convert a Serverless Framework service to multicloud.yaml; list what could not be converted."""

    def work(output: Output) -> int:
        from multicloud.errors import UsageError
        from multicloud.migrate import convert_file
        from multicloud.spec.loader import parse_spec

        conversion = convert_file(source)
        dest = out or source.with_name("multicloud.yaml")
        if dest.exists() and not force:
            raise UsageError(f"{dest} exists", fix="pass --force to overwrite, or --out another path")
        text = conversion.to_yaml()
        parse_spec(text, str(dest))  # the result must be a valid spec
        dest.write_text(text)
        lines = [f"wrote {dest} ({len(conversion.spec['functions'])} function(s))"]
        if conversion.notes:
            lines.append(f"not converted ({len(conversion.notes)}):")
            lines += [f"  - {n}" for n in conversion.notes]
        output.result({"path": str(dest), "functions": list(conversion.spec["functions"]),
                       "not_converted": conversion.notes}, "\n".join(lines))
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
