"""What a button on the page does: the same library calls the CLI makes, with the same checks and locks.

invoke       -> `operations.invoke_request` + `Provider.invoke` (as `multicloud invoke`)
rollback     -> `orchestrate.rollback`: under the target's deploy lock (as `multicloud rollback`)
dead letters -> `operations.channel_names` + `Provider.retry_dead_letters` / `purge_dead_letters`
                (as `multicloud dead-letters --retry/--purge [--id ...]`)

These block (they talk to a target); the app runs them on a worker thread. Errors propagate as
`MulticloudError`s; the app shows their message, as the CLI prints it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Literal

from multicloud.dashboard.board import Service
from multicloud.errors import UsageError
from multicloud.operations import channel_names, invoke_request
from multicloud.orchestrate import provider_for
from multicloud.provider import DeadLetter, DeadLetterAction, DeployResult, Invocation, InvokeResult


@dataclass(frozen=True)
class InvokeForm:
    function: str
    trigger: str = "http"
    method: str = "GET"
    path: str = ""
    body: str = ""
    headers: str = ""  # one `Name: value` per line
    event: str = ""  # JSON payload for the other triggers (empty: a generated sample)


def invoke(service: Service, target: str, form: InvokeForm) -> InvokeResult:
    project = service.project
    fn = project.function(target, form.function).name
    payload = None
    if form.event.strip():
        try:
            payload = json.loads(form.event)
        except ValueError as exc:
            raise UsageError(f"the event is not JSON: {exc}", fix="give a JSON object, or leave it empty for "
                             "a sample event") from exc
        if not isinstance(payload, dict):
            raise UsageError("the event must be a JSON object", fix='e.g. {"key": "value"}')
    request = invoke_request(fn, form.trigger, form.method, form.path.strip() or None, form.body.encode(),
                             form.headers.splitlines(), payload)
    return provider_for(project, target).invoke(request)


def rollback(service: Service, target: str) -> DeployResult:
    from multicloud.orchestrate import rollback as rollback_target

    return rollback_target(service.project, target, lambda _message: None)


def dead_letters(service: Service, target: str, limit: int = 50) -> dict[str, list[DeadLetter]]:
    provider = provider_for(service.project, target)
    return {name: provider.dead_letters(name, limit) for name in channel_names(service.project, target, "queue", None)}


def act_on_dead_letters(service: Service, target: str, queue: str, action: Literal["retry", "purge"],
                        ids: list[str] | None) -> DeadLetterAction:
    (name,) = channel_names(service.project, target, "queue", queue)
    provider = provider_for(service.project, target)
    if action == "retry":
        return provider.retry_dead_letters(name, ids or None)
    return provider.purge_dead_letters(name, ids or None)


def recent_invocations(service: Service, target: str, window: timedelta) -> dict[str, list[Invocation]]:
    """Calls of each function on `target` in the last `window`, oldest first."""
    calls = provider_for(service.project, target).invocations(None, datetime.now(timezone.utc) - window, 2000)
    out: dict[str, list[Invocation]] = {fn.name: [] for fn in service.project.functions_for(target)}
    for call in calls:
        out.setdefault(call.function, []).append(call)
    return out
