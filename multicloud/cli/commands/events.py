"""Commands for event-driven functions: `send` a message where a queue or stream function reads it, and
list, retry or purge the `dead-letters` of queue functions. Both go through the target's provider."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from multicloud.cli.base import OneTarget, PathArg, app, run, target_provider

if TYPE_CHECKING:
    from multicloud.cli.output import Output
    from multicloud.project import Project


def channel_name(project: Project, target: str, kind: str, name: str | None) -> list[str]:
    """The queue/stream names to act on (the check the dashboard makes too: `operations.channel_names`)."""
    from multicloud.operations import channel_names

    return channel_names(project, target, kind, name)


def parse_attributes(values: list[str] | None) -> dict[str, str]:
    from multicloud.errors import UsageError

    attributes: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--attribute {item!r} is not K=V", fix="e.g. --attribute tenant=acme")
        attributes[key.strip()] = value
    return attributes


@app.command()
def send(
    ctx: typer.Context,
    path: PathArg = Path("."),
    target: OneTarget = "local",
    queue: Annotated[str | None, typer.Option("--queue", help="Queue name (a queue trigger's `name`).")] = None,
    stream: Annotated[str | None, typer.Option("--stream", help="Stream name (a stream trigger's `name`).")]
    = None,
    data: Annotated[str | None, typer.Option("--data", "-d", help="Message body.")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="Read the message body from a file.")] = None,
    attribute: Annotated[list[str] | None, typer.Option("--attribute", "-a", help="K=V message attribute "
                                                         "(repeatable).")] = None,
) -> None:
    """Put one message where a queue or stream function reads it, on any target."""

    def work(out: Output) -> int:
        from multicloud.errors import UsageError

        if (queue is None) == (stream is None):
            raise UsageError("give exactly one of --queue NAME or --stream NAME")
        if (data is None) == (file is None):
            raise UsageError("give exactly one of -d BODY or --file F")
        if file is not None:
            try:
                body = file.read_bytes()
            except OSError as exc:
                raise UsageError(f"cannot read {file}: {exc.strerror}", fix="check the path") from exc
        else:
            body = (data or "").encode()
        project, t, provider = target_provider(path, target)
        kind = "queue" if queue is not None else "stream"
        (name,) = channel_name(project, t, kind, queue if queue is not None else stream)
        res = provider.send(kind, name, body, parse_attributes(attribute))  # type: ignore[arg-type]
        out.result(res, f"{t}: sent to {kind} {name} ({res.destination})"
                   + (f", message id {res.message_id}" if res.message_id else ""))
        return 0

    run(ctx, work)


@app.command("dead-letters")
def dead_letters(
    ctx: typer.Context,
    path: PathArg = Path("."),
    target: OneTarget = "local",
    queue: Annotated[str | None, typer.Option("--queue", help="One queue (default: every queue).")] = None,
    retry: Annotated[bool, typer.Option("--retry", help="Send them back to their queue.")] = False,
    purge: Annotated[bool, typer.Option("--purge", help="Drop them for good.")] = False,
    ids: Annotated[list[str] | None, typer.Option("--id", help="Only this dead letter (repeatable).")] = None,
    limit: Annotated[int, typer.Option(help="List at most this many per queue.")] = 100,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before --purge.")] = False,
) -> None:
    """List the messages queue functions gave up on; --retry sends them back, --purge drops them."""

    def work(out: Output) -> int:
        from multicloud.cli.output import interactive
        from multicloud.errors import UsageError

        if retry and purge:
            raise UsageError("give --retry or --purge, not both")
        if ids and not (retry or purge):
            raise UsageError("--id goes with --retry or --purge")
        project, t, provider = target_provider(path, target)
        names = channel_name(project, t, "queue", queue)
        if retry or purge:
            if purge and not yes and interactive() and not typer.confirm(
                    f"Drop {'these' if ids else 'all'} dead letters of {', '.join(names)} on {t} for good?"):
                return 1
            act = provider.retry_dead_letters if retry else provider.purge_dead_letters
            actions = [act(n, ids) for n in names]
            verb = "sent back" if retry else "purged"
            out.result({"target": t, "actions": actions},
                       "\n".join(f"{t}: {a.queue}: {verb} {len(a.ids)} dead letter(s)" for a in actions))
            return 0
        letters = {n: provider.dead_letters(n, limit) for n in names}
        lines = []
        for n, items in letters.items():
            lines.append(f"{t}: {n}: {len(items)} dead letter(s)")
            for d in items:
                body = d.body.decode("utf-8", "replace")
                lines.append(f"  {d.id}" + (f"  attempts {d.attempts}" if d.attempts is not None else "")
                             + (f"  {d.time.isoformat()}" if d.time else "")
                             + f"\n    body: {body[:200]}{'...' if len(body) > 200 else ''}"
                             + (f"\n    last error: {d.last_error}" if d.last_error else ""))
        out.result({"target": t, "dead_letters": letters}, "\n".join(lines))
        return 0

    run(ctx, work)
