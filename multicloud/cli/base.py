"""What every command module shares: the Typer app, argument types, project/target lookups and `run`,
the one place that maps errors to messages and exit codes.

Exit codes: 0 success, 1 an operation failed, 2 bad input or spec, 3 unsupported. Library modules are
imported inside commands so `multicloud --help` stays fast and loads no cloud SDK.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:

    from multicloud.cli.output import Output
    from multicloud.errors import MulticloudError
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


def output_of(ctx: typer.Context) -> Output:
    from multicloud.cli.output import Output

    obj = ctx.find_root().obj
    return obj if isinstance(obj, Output) else Output()


def load_project(path: Path) -> Project:
    from multicloud.project import Project

    return Project.load(path)


def targets_of(project: Project, value: str | None) -> list[str]:
    from multicloud.registry import available, unknown_target

    names = [t.strip() for t in value.split(",") if t.strip()] if value else project.default_targets()
    known = available()
    for name in names:
        if name not in known:
            raise unknown_target(name, known)
    return names


def one_target(project: Project, value: str) -> str:
    from multicloud.errors import UsageError

    names = targets_of(project, value)
    if len(names) != 1:
        raise UsageError("this command takes exactly one target", fix="pass --target NAME")
    return names[0]


def target_provider(path: Path, target: str) -> tuple[Project, str, Provider]:
    """The project, the one target named on the command line, and that target's provider."""
    from multicloud.orchestrate import provider_for

    project = load_project(path)
    name = one_target(project, target)
    return project, name, provider_for(project, name)


def function_of(project: Project, target: str, name: str | None) -> str:
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

    out = output_of(ctx)
    try:
        code = work(out)
    except MulticloudError as exc:
        out.error(exc)
        raise typer.Exit(exc.exit_code) from None
    except ModuleNotFoundError as exc:
        missing = _missing_extra(exc)
        out.error(missing)
        raise typer.Exit(missing.exit_code) from None
    except OSError as exc:  # this machine's files: disk full, file too large, read-only, permissions
        from multicloud.errors import from_os_error

        failed = from_os_error(exc)
        out.error(failed)
        raise typer.Exit(failed.exit_code) from None
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        raise typer.Exit(130) from None
    if code:
        raise typer.Exit(code)


def _missing_extra(exc: ModuleNotFoundError) -> MulticloudError:
    """A cloud SDK that is not installed names the pip extra (exit 3); any other missing module is a
    broken installation (exit 1), said in one line rather than a traceback."""
    from multicloud.errors import OperationError
    from multicloud.extras import error_for

    return error_for(exc) or OperationError(
        f"multicloud cannot import {exc.name!r}: the installation is incomplete",
        fix="reinstall it: pip install --force-reinstall multicloud", where=sys.executable)


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
