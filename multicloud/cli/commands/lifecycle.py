"""Commands that change what runs on a target: build, plan, deploy, remove, rollback, unlock, move.

build, plan, deploy and remove run on each target concurrently (`orchestrate.for_each_target`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from multicloud.cli.base import (
    OneTarget,
    PathArg,
    TargetOpt,
    app,
    load_project,
    one_target,
    run,
    target_provider,
    targets_of,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from multicloud.cli.output import Output
    from multicloud.project import Project


def _summary_text(outcomes: list[Any], verb: str) -> str:
    lines = []
    for o in outcomes:
        if o.ok:
            r = o.result
            extra = ""
            if hasattr(r, "endpoints"):
                extra = f" version {r.version}{'' if r.changed else ' (unchanged)'}"
                extra += "".join(f"\n    {e.function}: {e.url}" for e in r.endpoints)
            elif hasattr(r, "changes"):  # a plan (it records artifacts' digests too: test it first)
                extra = "".join(f"\n    {c.action:6} {c.resource}{f'  ({c.detail})' if c.detail else ''}"
                                for c in r.changes) or "\n    no changes"
            elif hasattr(r, "artifacts"):
                extra = "".join(f"\n    {a.function}: {a.path} ({a.size} bytes) -> {a.entry_point}"
                                for a in r.artifacts)
            elif hasattr(r, "removed"):
                extra = f": {len(r.removed)} resource(s)" + "".join(f"\n    {x}" for x in r.removed)
            lines.append(f"{o.target}: {verb} ok in {o.duration_s:.2f} s{extra}")
        else:
            lines.append(f"{o.target}: FAILED in {o.duration_s:.2f} s: {o.error.message}")
    return "\n".join(lines)


def _multi(ctx: typer.Context, path: Path, target: str | None, verb: str, fn_name: str,
           confirm: Callable[[Project, list[str]], bool] | None = None, save: Path | None = None,
           saved_plan: Path | None = None) -> None:
    """Run `orchestrate.<fn_name>` on each target concurrently (the spec's targets unless --target says);
    `confirm(project, targets) -> bool` may stop it first. `save`: also write the JSON result there (a saved
    plan); `saved_plan`: deploy exactly the plans in that file (`orchestrate.apply_saved`)."""

    def work(out: Output) -> int:
        from multicloud import orchestrate

        project = load_project(path)
        if saved_plan is not None:
            from multicloud.plan.saved import load

            plans = load(saved_plan, project.name)
            targets = targets_of(project, target) if target else list(plans)
            missing = [t for t in targets if t not in plans]
            if missing:
                from multicloud.errors import UsageError

                raise UsageError(f"the plan file has no plan for {', '.join(missing)}", where=str(saved_plan),
                                 fix="make the plan for those targets, or leave them out of --target")

            def fn(p: Project, t: str, progress: Any) -> Any:
                return orchestrate.apply_saved(p, t, plans[t], progress, saved_plan)
        else:
            targets = targets_of(project, target)
            fn = getattr(orchestrate, fn_name)
        if confirm is not None and not confirm(project, targets):
            return 1
        outcomes = orchestrate.for_each_target(targets, lambda t: fn(project, t, out.progress_for(t)))
        from multicloud.errors import SpecError

        if all(not o.ok and isinstance(o.error, SpecError) for o in outcomes):
            errs = [o.error for o in outcomes if o.error is not None]
            if len(errs) == 1:
                raise errs[0]
        summaries = [o.summary() for o in outcomes]
        data = {"ok": all(o.ok for o in outcomes), "service": project.name, "targets": summaries}
        if verb == "plan":
            from multicloud.plan.saved import KIND

            data = {"kind": KIND, **data}  # first key (sorted): a saved plan is never shipped in an artifact
        if save is not None:
            _save(save, data)
        out.result(data, _summary_text(outcomes, verb) + (f"\nplan saved to {save}" if save else ""))
        failed = [o for o in outcomes if not o.ok]
        if not failed:
            return 0
        return max(o.error.exit_code for o in failed if o.error is not None)

    run(ctx, work)


@app.command()
def build(ctx: typer.Context, path: PathArg = Path("."), target: TargetOpt = None) -> None:
    """Render and package each target's artifacts (with a build.json manifest)."""
    _multi(ctx, path, target, "build", "build_target")


def _save(path: Path, data: dict[str, Any]) -> None:
    """Write the plan document (the same JSON `plan --output json` prints) atomically."""
    import json

    from multicloud.errors import from_os_error
    from multicloud.provider import to_jsonable

    try:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(to_jsonable(data), indent=2, sort_keys=True) + "\n")
        tmp.replace(path)
    except OSError as exc:
        raise from_os_error(exc) from exc


@app.command()
def plan(
    ctx: typer.Context,
    path: PathArg = Path("."),
    target: TargetOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help="Save the plan to this file (the JSON "
                                              "`--output json` prints) for `deploy --plan`.")] = None,
) -> None:
    """Show what deploy would create, update or delete on each target."""
    _multi(ctx, path, target, "plan", "plan", save=out)


@app.command()
def deploy(
    ctx: typer.Context,
    path: PathArg = Path("."),
    target: TargetOpt = None,
    plan_file: Annotated[Path | None, typer.Option("--plan", help="Apply exactly this saved plan (`plan "
                                                    "--out`); refused, exit 1, if anything changed since.")] = None,
) -> None:
    """Build and deploy to each target (concurrently); a failed target leaves its old version serving."""
    _multi(ctx, path, target, "deploy", "deploy", saved_plan=plan_file)




@app.command()
def remove(
    ctx: typer.Context,
    path: PathArg = Path("."),
    target: TargetOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete everything multicloud created for this service on each target (and nothing else)."""

    def confirm(project: Project, targets: list[str]) -> bool:
        from multicloud.cli.output import interactive

        return yes or not interactive() or typer.confirm(f"Remove {project.name} from {', '.join(targets)}?")

    _multi(ctx, path, target, "remove", "remove", confirm)




@app.command()
def rollback(
    ctx: typer.Context,
    path: PathArg = Path("."),
    target: OneTarget = "aws",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the steps rollback would make (targets "
                                          "whose rollback is a plan: docker), change nothing.")] = False,
) -> None:
    """Point the live version back at the previous one."""

    def work(out: Output) -> int:
        from multicloud import orchestrate

        project = load_project(path)
        t = one_target(project, target)
        if dry_run:
            planned = orchestrate.plan_rollback(project, t, out.progress_for(t))
            steps = "".join(f"\n    {c.action:6} {c.resource}{f'  ({c.detail})' if c.detail else ''}"
                            for c in planned.changes) or "\n    no changes"
            out.result({"ok": True, "service": project.name, "target": t, "plan": planned.document()},
                       f"{t}: rollback would make{steps}")
            return 0
        res = orchestrate.rollback(project, t, out.progress_for(t))
        out.result(res, f"{t}: live is now version {res.version}")
        return 0

    run(ctx, work)




@app.command()
def unlock(ctx: typer.Context, path: PathArg = Path("."), target: OneTarget = "local") -> None:
    """Break a target's deploy lock left behind by a run that died."""

    def work(out: Output) -> int:
        project, t, provider = target_provider(path, target)
        holder = provider.break_lock()
        if holder is None:
            out.result({"target": t, "broken": None}, f"{t}: no lock was held")
        else:
            from multicloud.locking import describe
            from multicloud.provider import to_jsonable

            out.result({"target": t, "broken": to_jsonable(holder)}, f"{t}: broke the lock of {describe(holder)}")
        return 0

    run(ctx, work)




@app.command()
def move(
    ctx: typer.Context,
    path: PathArg = Path("."),
    source: Annotated[str, typer.Option("--from", help="Where the service runs now.")] = "aws",
    destination: Annotated[str, typer.Option("--to", help="Where it should run.")] = "docker",
    drain_timeout: Annotated[float, typer.Option(
        "--drain-timeout", min=0,
        help="Seconds to wait for the source's queues to empty before removing it (it keeps consuming "
             "meanwhile); when they do not, nothing is removed.")] = 300.0,
) -> None:
    """Move a service: deploy to --to, verify it serves (and consumes its queues), let the source's queues
    empty, only then remove it from --from."""

    def work(out: Output) -> int:
        from multicloud.move import move_service
        from multicloud.move_events import summary

        project = load_project(path)
        src = one_target(project, source)
        dst = one_target(project, destination)
        result = move_service(project, src, dst, out.progress_for(f"{src}->{dst}"), drain_timeout=drain_timeout)
        producers = summary(result.events, src)
        out.result(result, f"moved {project.name} from {src} to {dst}"
                   + "".join(f"\n    {e.function}: {e.url}" for e in result.deployed.endpoints)
                   + (f"\n{producers}" if producers else ""))
        return 0

    run(ctx, work)
