"""The `multicloud` command line: the only layer that prints, prompts and picks exit codes.

Exit codes: 0 success, 1 an operation failed, 2 bad input or spec, 3 unsupported. Library modules are
imported inside commands so `multicloud --help` stays fast and loads no cloud SDK.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from collections.abc import Callable

    from multicloud.cli.output import Output
    from multicloud.project import Project
    from multicloud.provider import Provider

app = typer.Typer(
    name="multicloud",
    help="Deploy one stateless function, described once, to AWS, Azure, GCP, Docker or locally.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
docker_app = typer.Typer(help="Private cloud helpers (Docker Engine).", no_args_is_help=True,
                         rich_markup_mode=None)
app.add_typer(docker_app, name="docker")

PathArg = Annotated[Path, typer.Argument(help="Project folder or spec file.", show_default=True)]
TargetOpt = Annotated[str | None, typer.Option("--target", "-t", help="Target(s), comma-separated: "
                                                  "aws, azure, gcp, docker, local. Default: the spec's.")]
OneTarget = Annotated[str, typer.Option("--target", "-t", help="aws, azure, gcp, docker or local.")]
FunctionOpt = Annotated[str | None, typer.Option("--function", "-f", help="Function name (default: "
                                                    "the only one, or the first).")]


class Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


def _out(ctx: typer.Context) -> Output:
    from multicloud.cli.output import Output

    obj = ctx.find_root().obj
    return obj if isinstance(obj, Output) else Output()


def _project(path: Path) -> Project:
    from multicloud.project import Project

    return Project.load(path)


def _targets(project: Project, value: str | None) -> list[str]:
    from multicloud.registry import available, unknown_target

    names = [t.strip() for t in value.split(",") if t.strip()] if value else project.default_targets()
    known = available()
    for name in names:
        if name not in known:
            raise unknown_target(name, known)
    return names


def _one_target(project: Project, value: str) -> str:
    from multicloud.errors import UsageError

    names = _targets(project, value)
    if len(names) != 1:
        raise UsageError("this command takes exactly one target", fix="pass --target NAME")
    return names[0]


def _target_provider(path: Path, target: str) -> tuple[Project, str, Provider]:
    """The project, the one target named on the command line, and that target's provider."""
    from multicloud.orchestrate import provider_for

    project = _project(path)
    name = _one_target(project, target)
    return project, name, provider_for(project, name)


def _function(project: Project, target: str, name: str | None) -> str:
    fns = project.functions_for(target)
    if name:
        return project.function(target, name).name
    if not fns:
        from multicloud.errors import UsageError

        raise UsageError(f"no function is enabled on {target}", fix="check functions.*.targets")
    return fns[0].name


def run(ctx: typer.Context, work: Any) -> None:
    """Run a command body; map errors to messages and exit codes."""
    from multicloud.errors import MulticloudError

    out = _out(ctx)
    try:
        code = work(out)
    except MulticloudError as exc:
        out.error(exc)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        raise typer.Exit(130) from None
    if code:
        raise typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version as dist_version

        sys.stdout.write(f"multicloud {dist_version('multicloud')}\n")
        raise typer.Exit(0)


@app.callback()
def main_options(
    ctx: typer.Context,
    output: Annotated[str, typer.Option("--output", "-o", help="text or json.")] = "text",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version.")] = False,
) -> None:
    from multicloud.cli.output import Output

    if output not in ("text", "json"):
        sys.stderr.write(f"error: --output must be text or json, not {output!r}\n")
        raise typer.Exit(2)
    ctx.obj = Output(output, quiet)


# ---- spec commands --------------------------------------------------------------------------------------
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
        project = _project(path)
        targets = _targets(project, target)
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

        from multicloud.capabilities import CAPABILITIES

        data = {t: {**asdict(c), "triggers": sorted(c.triggers), "secret_schemes": sorted(c.secret_schemes)}
                for t, c in CAPABILITIES.items()}
        lines = []
        for t, c in CAPABILITIES.items():
            lines.append(f"{t}: triggers {', '.join(sorted(c.triggers))}; memory {c.memory_mb[0]}-"
                         f"{c.memory_mb[1]} MB; timeout <= {c.max_timeout_s} s (http {c.max_http_timeout_s} s);"
                         f" payload {c.payload_bytes // 2**20} MB\n    {c.notes}")
        out.result(data, "\n".join(lines))
        return 0

    run(ctx, work)


# ---- build / plan / deploy ------------------------------------------------------------------------------
def _summary_text(outcomes: list[Any], verb: str) -> str:
    lines = []
    for o in outcomes:
        if o.ok:
            r = o.result
            extra = ""
            if hasattr(r, "endpoints"):
                extra = f" version {r.version}{'' if r.changed else ' (unchanged)'}"
                extra += "".join(f"\n    {e.function}: {e.url}" for e in r.endpoints)
            elif hasattr(r, "artifacts"):
                extra = "".join(f"\n    {a.function}: {a.path} ({a.size} bytes) -> {a.entry_point}"
                                for a in r.artifacts)
            elif hasattr(r, "changes"):
                extra = "".join(f"\n    {c.action:6} {c.resource}{f'  ({c.detail})' if c.detail else ''}"
                                for c in r.changes) or "\n    no changes"
            elif hasattr(r, "removed"):
                extra = f": {len(r.removed)} resource(s)" + "".join(f"\n    {x}" for x in r.removed)
            lines.append(f"{o.target}: {verb} ok in {o.duration_s:.2f} s{extra}")
        else:
            lines.append(f"{o.target}: FAILED in {o.duration_s:.2f} s: {o.error.message}")
    return "\n".join(lines)


def _multi(ctx: typer.Context, path: Path, target: str | None, verb: str, fn_name: str,
           confirm: Callable[[Project, list[str]], bool] | None = None) -> None:
    """Run `orchestrate.<fn_name>` on each target concurrently (the spec's targets unless --target says);
    `confirm(project, targets) -> bool` may stop it first."""

    def work(out: Output) -> int:
        from multicloud import orchestrate

        project = _project(path)
        targets = _targets(project, target)
        if confirm is not None and not confirm(project, targets):
            return 1
        fn = getattr(orchestrate, fn_name)
        outcomes = orchestrate.for_each_target(targets, lambda t: fn(project, t, out.progress_for(t)))
        from multicloud.errors import SpecError

        if all(not o.ok and isinstance(o.error, SpecError) for o in outcomes):
            errs = [o.error for o in outcomes if o.error is not None]
            if len(errs) == 1:
                raise errs[0]
        summaries = [o.summary() for o in outcomes]
        data = {"ok": all(o.ok for o in outcomes), "service": project.name, "targets": summaries}
        out.result(data, _summary_text(outcomes, verb))
        failed = [o for o in outcomes if not o.ok]
        if not failed:
            return 0
        return max(o.error.exit_code for o in failed if o.error is not None)

    run(ctx, work)


@app.command()
def build(ctx: typer.Context, path: PathArg = Path("."), target: TargetOpt = None) -> None:
    """Render and package each target's artifacts (with a build.json manifest)."""
    _multi(ctx, path, target, "build", "build_target")


@app.command()
def plan(ctx: typer.Context, path: PathArg = Path("."), target: TargetOpt = None) -> None:
    """Show what deploy would create, update or delete on each target."""
    _multi(ctx, path, target, "plan", "plan")


@app.command()
def deploy(ctx: typer.Context, path: PathArg = Path("."), target: TargetOpt = None) -> None:
    """Build and deploy to each target (concurrently); a failed target leaves its old version serving."""
    _multi(ctx, path, target, "deploy", "deploy")


# ---- operate --------------------------------------------------------------------------------------------
@app.command()
def invoke(
    ctx: typer.Context,
    path: PathArg = Path("."),
    target: OneTarget = "local",
    function: FunctionOpt = None,
    trigger: Annotated[str, typer.Option(help="http, schedule, queue, stream, storage or direct.")] = "http",
    method: Annotated[str, typer.Option("--method", "-X")] = "GET",
    route: Annotated[str | None, typer.Option("--path", help="Request path (http).")] = None,
    data: Annotated[str | None, typer.Option("--data", "-d", help="Body; @file reads a file.")] = None,
    header: Annotated[list[str] | None, typer.Option("--header", "-H", help="'Name: value'.")] = None,
    event: Annotated[Path | None, typer.Option(help="JSON payload for non-HTTP triggers.")] = None,
) -> None:
    """Call a deployed function once and print what it answered."""

    def work(out: Output) -> int:
        import json

        from multicloud.errors import UsageError
        from multicloud.provider import InvokeRequest

        project, t, provider = _target_provider(path, target)
        fn = _function(project, t, function)
        body = b""
        if data is not None:
            body = Path(data[1:]).read_bytes() if data.startswith("@") else data.encode()
        headers = {}
        for h in header or []:
            name, sep, value = h.partition(":")
            if not sep:
                raise UsageError(f"header {h!r} is not 'Name: value'")
            headers[name.strip()] = value.strip()
        payload = None
        if event is not None:
            try:
                payload = json.loads(event.read_text())
            except (OSError, ValueError) as exc:
                raise UsageError(f"cannot read JSON event from {event}: {exc}") from exc
        if trigger not in ("http", "schedule", "queue", "stream", "storage", "direct"):
            raise UsageError(f"unknown trigger {trigger!r}", fix="use http, schedule, queue, stream, storage or direct")
        req = InvokeRequest(function=fn, trigger=trigger, method=method.upper(), path=route,  # type: ignore[arg-type]
                            headers=headers, body=body, event=payload)
        res = provider.invoke(req)
        text = res.body.decode("utf-8", "replace") if res.body else ""
        if res.status is not None and not out.json:
            text = f"{res.status}\n{text}" if not res.ok else text
        if res.error:
            text = f"{text}\nerror: {res.error}".strip()
        out.result(res, text)
        return 0 if res.ok else 1

    run(ctx, work)


def _parse_since(value: str | None) -> Any:
    if not value:
        return None
    import re
    from datetime import datetime, timedelta, timezone

    from multicloud.errors import UsageError

    m = re.fullmatch(r"(\d+)([smhd])", value.strip())
    if m:
        amount, unit = int(m.group(1)), m.group(2)
        return datetime.now(timezone.utc) - timedelta(seconds=amount * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit])
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise UsageError(f"--since {value!r} is neither a duration (10m, 2h) nor an ISO time") from exc


@app.command()
def logs(
    ctx: typer.Context,
    path: PathArg = Path("."),
    target: OneTarget = "local",
    function: FunctionOpt = None,
    since: Annotated[str | None, typer.Option(help="10m, 2h, 1d or an ISO time.")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-F", help="Keep printing new lines.")] = False,
) -> None:
    """Print a function's logs."""

    def work(out: Output) -> int:
        import json

        from multicloud.provider import to_jsonable

        project, t, provider = _target_provider(path, target)
        fn = project.function(t, function).name if function else None
        for rec in provider.logs(fn, _parse_since(since), follow):
            if out.json:
                sys.stdout.write(json.dumps(to_jsonable(rec)) + "\n")
            else:
                sys.stdout.write(f"{rec.time.isoformat()} {rec.function}: {rec.message}\n")
            sys.stdout.flush()
        return 0

    run(ctx, work)


@app.command()
def status(ctx: typer.Context, path: PathArg = Path("."), target: OneTarget = "local") -> None:
    """Show what is deployed on a target and whether it is healthy."""

    def work(out: Output) -> int:
        project, t, provider = _target_provider(path, target)
        rep = provider.status()
        lines = [f"{t}: {'deployed' if rep.deployed else 'not deployed'}"]
        for f in rep.functions:
            lines.append(f"  {f.function}: {f.state}" + (f" version {f.version}" if f.version else "")
                         + (f" {f.endpoint}" if f.endpoint else "") + (f" ({f.detail})" if f.detail else ""))
        out.result(rep, "\n".join(lines))
        return 0

    run(ctx, work)


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
def rollback(ctx: typer.Context, path: PathArg = Path("."), target: OneTarget = "aws") -> None:
    """Point the live version back at the previous one."""

    def work(out: Output) -> int:
        project, t, provider = _target_provider(path, target)
        from multicloud.locking import target_lock

        progress = out.progress_for(t)
        with target_lock(provider, "rollback", progress):
            res = provider.rollback(progress)
        out.result(res, f"{t}: live is now version {res.version}")
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
        project, t, provider = _target_provider(path, target)
        files = provider.export(fmt, out_dir)
        out.result({"files": [str(f) for f in files]}, "\n".join(str(f) for f in files))
        return 0

    run(ctx, work)


@app.command()
def dev(
    ctx: typer.Context,
    path: PathArg = Path("."),
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8080,
) -> None:
    """Serve the service in the foreground with the private runtime (Ctrl-C stops)."""

    def work(out: Output) -> int:
        from multicloud.devserver import serve

        project = _project(path)
        return serve(project, port, out.step)

    run(ctx, work)


@app.command()
def unlock(ctx: typer.Context, path: PathArg = Path("."), target: OneTarget = "local") -> None:
    """Break a target's deploy lock left behind by a run that died."""

    def work(out: Output) -> int:
        project, t, provider = _target_provider(path, target)
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
) -> None:
    """Move a service: deploy to --to, verify it serves, only then remove it from --from."""

    def work(out: Output) -> int:
        from multicloud.move import move_service

        project = _project(path)
        src = _one_target(project, source)
        dst = _one_target(project, destination)
        result = move_service(project, src, dst, out.progress_for(f"{src}->{dst}"))
        out.result(result, f"moved {project.name} from {src} to {dst}"
                   + "".join(f"\n    {e.function}: {e.url}" for e in result.deployed.endpoints))
        return 0

    run(ctx, work)


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


@docker_app.command("base-image")
def docker_base_image(
    ctx: typer.Context,
    python: Annotated[str, typer.Option(help="Python version the image must carry.")] = "3.11",
    tag: Annotated[str | None, typer.Option(help="Image tag; default multicloud/python:<v>-bookworm.")] = None,
) -> None:
    """Build an air-gapped Python base image from Debian packages (debootstrap + docker import)."""

    def work(out: Output) -> int:
        from importlib import import_module

        build_base_image = import_module("multicloud.providers.docker.base_image").build_base_image

        with out.spinner("building base image (debootstrap, about a minute)"):
            built = build_base_image(python, tag, out.step)
        out.result({"image": built}, f"built {built}")
        return 0

    run(ctx, work)


@docker_app.command("proxy-image")
def docker_proxy_image(
    ctx: typer.Context,
    tag: Annotated[str | None, typer.Option(help="Image tag; default multicloud/haproxy:2.6-bookworm.")] = None,
) -> None:
    """Build the gateway's HAProxy image from Debian packages, for engines without a registry."""

    def work(out: Output) -> int:
        from importlib import import_module

        build_proxy_image = import_module("multicloud.providers.docker.base_image").build_proxy_image

        with out.spinner("building the proxy image (debootstrap, about a minute)"):
            built = build_proxy_image(tag, out.step)
        out.result({"image": built}, f"built {built}")
        return 0

    run(ctx, work)


GLOBAL_VALUE_OPTS = ("--output", "-o")
GLOBAL_FLAGS = ("--quiet", "-q")


def hoist_global_options(argv: list[str]) -> list[str]:
    """Let `--output json` / `--quiet` stand anywhere, as users type them (`multicloud deploy -o json`)."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest += argv[i:]
            break
        if arg in GLOBAL_VALUE_OPTS and i + 1 < len(argv):
            front += [arg, argv[i + 1]]
            i += 2
            continue
        if arg.startswith("--output=") or arg in GLOBAL_FLAGS:
            front.append(arg)
        else:
            rest.append(arg)
        i += 1
    return front + rest


def main() -> None:
    app(args=hoist_global_options(sys.argv[1:]), prog_name="multicloud")
