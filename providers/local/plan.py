"""plan: what a deploy to the local target would do, from the deploy state and the running supervisor.

Steps: one per function (what it experiences, informational) and one executable step, the release swap
that serves them all (`op="switch"`: one `deploy` call to the supervisor, see apply.py and multicloud.plan).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from multicloud.plan import FieldChange, Step
from multicloud.project import Project
from multicloud.provider import BuildResult, Plan, Progress
from multicloud.state import read_state

from . import control, drift
from .secret_values import fingerprint
from .settings import LocalSettings


def plan(project: Project, settings: LocalSettings, build: BuildResult | None, progress: Progress) -> Plan:
    state = read_state(project, "local")
    live = control.reachable(Path(state["control"])) if state.get("control") else None
    running = bool(live and live.get("state") == "running")
    moving = live is not None and drift.address_changed(settings, live)
    same_secrets = running and drift.same_secrets(project, live.get("secrets_fp") if live else None)
    if not running:
        action, detail = "create", ("start the local server" if not state else drift.STOPPED)
    elif moving:
        action, detail = "update", f"move to {settings.host}:{settings.port or 'a free port'}"
    elif build is None or build.digest != state.get("digest"):
        action, detail = "update", "swap to the new release"
    elif not same_secrets:
        action, detail = "update", "secret values changed: restart"
    else:
        action, detail = "noop", ""
    steps = [Step("noop" if action == "noop" else action, "function", fn.name, detail)  # type: ignore[arg-type]
             for fn in project.functions_for("local")]
    release = build.digest[:16] if build else str(state.get("digest") or "")[:16]
    fields = [] if action == "noop" else release_fields(project, state, live, release, same_secrets)
    steps.append(Step(action, "local release", release, detail, tuple(fields),  # type: ignore[arg-type]
                      "" if action == "noop" else "switch", {"release": release, "move": moving},
                      () if action == "noop" else ("supervisor:deploy",)))
    return Plan("local", tuple(steps), observed=drift.observed(state, live))


def release_fields(project: Project, state: dict[str, Any], live: dict[str, Any] | None, release: str,
                   same_secrets: bool) -> list[FieldChange]:
    fields = [FieldChange("release", str(state.get("digest") or "")[:16] or None, release)]
    recorded = (live or {}).get("secrets_fp")
    if not same_secrets and isinstance(recorded, dict) and isinstance(recorded.get("salt"), str):
        # salted with the running server's salt, which only that server holds: no value can be guessed
        fields.append(FieldChange("secret values", "sha256:" + str(recorded.get("digest"))[:12],
                                  "sha256:" + fingerprint(project, recorded["salt"])[:12], secret=True))
    return fields
