"""What changed on the local target outside multicloud since the last deploy: the server stopped (killed,
reboot), it listens elsewhere than the spec asks, or the secret values it was started with are no longer
the ones the deploying shell holds. The plan labels each such change; `observed` is what a saved plan is
checked against before it is applied."""

from __future__ import annotations

import socket
from typing import Any

from multicloud.plan import fingerprint
from multicloud.project import Project

from .secret_values import fingerprint as secrets_fingerprint
from .secret_values import secrets_view
from .settings import LocalSettings

STOPPED = "drift: the local server is not running (stopped outside multicloud)"


def observed(state: dict[str, Any], live: dict[str, Any] | None) -> dict[str, str]:
    """The running server (as the supervisor reports it) and the deploy state it was recorded with."""
    return {"local server": fingerprint({k: (live or {}).get(k) for k in (
        "state", "release", "generation", "supervisor_pid", "server_pid", "host", "port")}),
        "deploy state": fingerprint({k: state.get(k) for k in ("digest", "release", "port", "host")})}


def address_changed(settings: LocalSettings, live: dict[str, Any]) -> bool:
    wanted_port = settings.port
    return bool((wanted_port and live.get("port") != wanted_port) or live.get("host") != address(settings.host))


def address(host: str) -> str:
    """The address a host name binds to (`localhost` -> 127.0.0.1), as the supervisor reports it."""
    try:
        return str(socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][4][0])
    except OSError:
        return host


def same_secrets(project: Project, recorded: object) -> bool:
    """Whether the server runs with the secret values this shell holds now (its salted fingerprint)."""
    if not isinstance(recorded, dict) or not isinstance(recorded.get("salt"), str):
        return not secrets_view(project)  # a supervisor from before fingerprints: only if there are none
    return bool(recorded.get("digest") == secrets_fingerprint(project, recorded["salt"]))
