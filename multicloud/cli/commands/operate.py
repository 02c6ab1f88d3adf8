"""Commands that look at or call what is deployed: invoke, logs, status, dev."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from multicloud.cli.base import (
    FunctionOpt,
    OneTarget,
    PathArg,
    app,
    function_of,
    load_project,
    run,
    target_provider,
)

if TYPE_CHECKING:

    from multicloud.cli.output import Output


def _request_body(data: str | None) -> bytes:
    """`-d TEXT` or `-d @FILE`; a file that cannot be read is bad input (exit 2), not a failure."""
    if data is None:
        return b""
    if not data.startswith("@"):
        return data.encode()
    from multicloud.errors import UsageError

    try:
        return Path(data[1:]).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read the request body from {data[1:]}: {exc.strerror}",
                         fix="check the path after @") from exc


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
        from multicloud.operations import invoke_request

        project, t, provider = target_provider(path, target)
        fn = function_of(project, t, function)
        body = _request_body(data)
        payload = None
        if event is not None:
            try:
                payload = json.loads(event.read_text())
            except (OSError, ValueError) as exc:
                raise UsageError(f"cannot read JSON event from {event}: {exc}") from exc
        res = provider.invoke(invoke_request(fn, trigger, method, route, body, header or [], payload))
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

        project, t, provider = target_provider(path, target)
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
        project, t, provider = target_provider(path, target)
        rep = provider.status()
        state = f"DOWN: {rep.down}" if rep.down else ("deployed" if rep.deployed else "not deployed")
        lines = [f"{t}: {state}"]
        for f in rep.functions:
            lines.append(f"  {f.function}: {f.state}" + (f" version {f.version}" if f.version else "")
                         + (f" {f.endpoint}" if f.endpoint else "") + (f" ({f.detail})" if f.detail else ""))
        out.result(rep, "\n".join(lines))
        return 1 if rep.down else 0  # a deployment that does not serve is a failed check (CI, scripts)

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

        project = load_project(path)
        return serve(project, port, out.step)

    run(ctx, work)
