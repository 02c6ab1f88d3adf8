"""`multicloud dashboard`: serve the web dashboard (needs the `dashboard` extra, imported only here)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from multicloud.cli.base import TargetOpt, app, run

if TYPE_CHECKING:
    from multicloud.cli.output import Output

EXTRA_HINT = "pip install 'multicloud[dashboard]'"


def require_extra() -> None:
    """Exit 3 naming the install command when the web stack is missing."""
    from importlib import import_module

    from multicloud.errors import UnsupportedError

    missing = []
    for name in ("starlette", "uvicorn", "python_multipart"):
        try:
            import_module(name)
        except ImportError:
            missing.append(name.replace("_", "-"))
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise UnsupportedError(f"the dashboard needs {', '.join(missing)}, which {verb} not installed", fix=EXTRA_HINT)


@app.command()
def dashboard(
    ctx: typer.Context,
    paths: Annotated[list[Path] | None, typer.Argument(help="Project folders or spec files (default: .).")] = None,
    port: Annotated[int, typer.Option(help="Port (0: any free port).")] = 8765,
    host: Annotated[str, typer.Option(help="Address to listen on. Anything but a loopback address requires "
                                           "the token printed at start.")] = "127.0.0.1",
    target: TargetOpt = None,
    refresh: Annotated[float, typer.Option(help="Seconds between status reads of each target.")] = 5.0,
    plan_every: Annotated[float, typer.Option(help="Seconds between background plans (0: on start and on "
                                                   "demand only).")] = 300.0,
    no_plan: Annotated[bool, typer.Option("--no-plan", help="Do not plan in the background at all.")] = False,
    tls_cert: Annotated[Path | None, typer.Option(help="Serve HTTPS with this certificate (PEM).")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="... and this private key (PEM).")] = None,
) -> None:
    """Serve a web page with every service on every target: health, invocations, logs, dead letters, actions."""

    def work(out: Output) -> int:
        from multicloud.errors import UsageError

        require_extra()
        if refresh < 0.5:
            raise UsageError(f"--refresh {refresh:g} is too often", fix="give 0.5 seconds or more")
        if not 0 <= port <= 65535:
            raise UsageError(f"--port {port} is not a port number", fix="give 0..65535 (0: any free port)")
        from multicloud.dashboard.app import Settings
        from multicloud.dashboard.server import serve

        def announce(url: str, token: str | None) -> None:
            if token is None:
                sys.stdout.write(f"dashboard: {url}\n")
            else:
                sys.stdout.write(f"dashboard: {url}?token={token}\n"
                                 "token (shown once; it is required on a non-loopback address): "
                                 f"{token}\n")
            sys.stdout.write("Ctrl-C stops it.\n")
            sys.stdout.flush()

        names = None
        if target:
            from multicloud.registry import available, unknown_target

            names = [t.strip() for t in target.split(",") if t.strip()]
            for name in names:
                if name not in available():
                    raise unknown_target(name, available())
        settings = Settings(refresh_s=refresh, plan_interval_s=plan_every, plans=not no_plan)
        return serve(list(paths or [Path(".")]), host, port, settings, announce, targets=names,
                     tls_cert=tls_cert, tls_key=tls_key)

    run(ctx, work)
