"""Commands for callers in any language: `endpoints` (the manifest the clients read: where each function
is live, how to call it, in which order) and `openapi` (an OpenAPI 3.1 document of the HTTP functions)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from multicloud.cli.base import PathArg, TargetOpt, app, load_project, run, targets_of

if TYPE_CHECKING:
    from multicloud.cli.output import Output


@app.command()
def endpoints(ctx: typer.Context, path: PathArg = Path("."), target: TargetOpt = None) -> None:
    """Where each function is live, its routes and the auth each needs, in placement order (no secrets)."""

    def work(out: Output) -> int:
        from multicloud.endpoints import manifest_of

        project = load_project(path)
        manifest = manifest_of(project, targets_of(project, target))
        lines = []
        for name, fn in manifest["functions"].items():
            order = ", ".join(fn["placement"]["order"]) or "nowhere"
            lines.append(f"{name} (placement: {order})")
            for entry in fn["targets"]:
                lines.append(f"  {entry['target']}: {entry['url'] or 'live (no http route)'}")
                for route in entry["routes"]:
                    auth = route["auth"]
                    how = {"none": "no auth", "key": f"key in {auth.get('header')}",
                           "iam": f"IAM ({auth.get('scheme')})"}.get(auth["type"], auth["type"])
                    lines.append(f"    {' '.join(route['methods'])} {route['path']}  [{how}]")
            if not fn["targets"]:
                lines.append("  not live on any target")
        out.result(manifest, "\n".join(lines))
        return 0

    run(ctx, work)


@app.command()
def openapi(
    ctx: typer.Context,
    path: PathArg = Path("."),
    target: TargetOpt = None,
    offline: Annotated[bool, typer.Option("--offline", help="Do not ask the targets for live URLs "
                                                              "(no `servers`).")] = False,
) -> None:
    """Print an OpenAPI 3.1 document (JSON) of the HTTP functions, with live servers when deployed."""

    def work(out: Output) -> int:
        import json
        import sys

        from multicloud.endpoints import build_manifest, gather_reports
        from multicloud.openapi import openapi_document

        project = load_project(path)
        targets = targets_of(project, target)
        manifest = None
        if not offline:
            reports, errors = gather_reports(project, targets)
            for name, exc in errors.items():
                out.warn(f"{name}: cannot read what is deployed ({exc.what}); its servers are left out")
            manifest = build_manifest(project, targets, reports)
        doc = openapi_document(project, targets, manifest)
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")  # the document itself, in either output mode
        return 0

    run(ctx, work)
