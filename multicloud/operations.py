"""Input checks the CLI and the dashboard share before they call a provider, so both accept and refuse
the same things with the same messages: an invoke request from what a person typed, and the queue or
stream names a service reads on a target."""

from __future__ import annotations

from collections.abc import Iterable

from multicloud.errors import UsageError
from multicloud.project import Project
from multicloud.provider import InvokeRequest
from multicloud.spec import kinds

TRIGGERS = (*kinds.NAMES, kinds.DIRECT)


def channel_names(project: Project, target: str, kind: str, name: str | None) -> list[str]:
    """The queue/stream names to act on: `name` if the service reads it on `target`, else all of them."""
    names = sorted(project.channels_for(target, kind))
    if name is None:
        if not names:
            raise UsageError(f"no function reads a {kind} on {target}",
                             fix=f"add a `{kind}:` trigger to a function enabled on {target}")
        return names
    if name not in names:
        raise UsageError(f"no function reads {kind} {name!r} on {target}",
                         fix=f"use one of: {', '.join(names)}" if names
                         else f"add a `{kind}: {{name: {name}}}` trigger to a function enabled on {target}")
    return [name]


def parse_headers(lines: Iterable[str]) -> dict[str, str]:
    headers = {}
    for line in lines:
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise UsageError(f"header {line!r} is not 'Name: value'")
        headers[name.strip()] = value.strip()
    return headers


def invoke_request(function: str, trigger: str, method: str, path: str | None, body: bytes,
                   header_lines: Iterable[str], event: dict[str, object] | None) -> InvokeRequest:
    if trigger not in TRIGGERS:
        raise UsageError(f"unknown trigger {trigger!r}", fix="use http, schedule, queue, stream, storage or direct")
    return InvokeRequest(function=function, trigger=trigger, method=method.upper(),  # type: ignore[arg-type]
                         path=path or None, headers=parse_headers(header_lines), body=body, event=event)
