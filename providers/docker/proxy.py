"""The docker gateway: HAProxy's configuration for a service, and its runtime API.

Chosen by measurement (docs/docker.md): through HAProxy 2.6 the runtime kept about 0.95 of its direct
throughput on this machine, nginx 0.84, Caddy 0.42; and HAProxy switches servers live over its runtime
API, with no reload (nginx's reload closes idle kept-alive connections, racing clients that send on them).

Single mode has two server slots, `blue` and `green`. Each is the DNS alias (`mc-<service>-<slot>`) of at
most one function container on the service's network, so a restarted gateway finds the live container by
itself. A deploy starts the new version on the free slot, then over the runtime API points that slot at
the container's address, makes it ready and puts the other slot in maintenance: new requests go to the new
version at once, requests in flight on the old one finish there (`drain` waits for its sessions to end).
The API listens on the gateway's own loopback; it is reached with `docker exec` and bash's /dev/tcp (both
the official image and the Debian one have bash), so it works on remote engines and publishes nothing.
"""

from __future__ import annotations

import json
import time
from typing import Any

from multicloud.errors import OperationError
from multicloud.project import Project
from multicloud.render import render

from . import engine as eng
from .settings import DockerSettings

SLOTS = ("blue", "green")
ADMIN_PORT = 9999
BACKEND = "functions"
CONNECT_WAIT = 15  # seconds a request waits for a function that is restarting
ERRORS = [(400, "bad request"), (403, "forbidden"), (408, "request timeout"), (413, "request body too large"),
          (500, "internal error in the gateway"), (501, "transfer codings other than chunked are not supported"),
          (502, "the function closed the connection"),
          (503, "no function is available"), (504, "the function did not answer in time")]
SLOT_LABEL = "io.multicloud.slot"
HEALTH_CMD = ["CMD", "bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{eng.INTERNAL_PORT}"]
#: admin state bits of `show servers state` (HAProxy's SRV_ADMF_*): forced, inherited, config or DNS maintenance
MAINT_BITS = 0x01 | 0x02 | 0x04 | 0x20


def default_proxy_image(settings: DockerSettings) -> str:
    """The official image from a registry, or the Debian-built one next to an air-gapped base image."""
    if settings.proxy_image:
        return settings.proxy_image
    from .base_image import PROXY_TAG

    if (settings.base_image or "").startswith("multicloud/python:"):
        return PROXY_TAG
    return "haproxy:2.6"


def alias(service: str, slot: str) -> str:
    return f"mc-{service}-{slot}"


def render_config(project: Project, settings: DockerSettings, mode: str) -> str:
    """haproxy.cfg for the service: the runtime's own limits and timeouts (server_config.Limits) at the door."""
    from multicloud.runtime.server_config import Limits

    from .hardening import max_timeout

    limits = Limits()
    return render(
        "docker", "haproxy.cfg.j2", service=project.name, mode=mode, port=eng.INTERNAL_PORT, admin_port=ADMIN_PORT,
        maxconn=1024, threads=max(1, round(settings.cpus)), bufsize=limits.max_header_bytes + 1024,
        header_timeout=f"{limits.header_timeout:g}", client_timeout=f"{limits.write_timeout:g}",
        keepalive_timeout=f"{limits.keepalive_timeout:g}", server_timeout=max_timeout(project) + 5,
        connect_wait=CONNECT_WAIT, max_body=int(settings.max_body_mb * 1024 * 1024), errors=ERRORS,
        slots=SLOTS, alias_prefix=f"mc-{project.name}", service_name=f"mc-{project.name}",
        template_size=max(4, settings.replicas * 2 + 2),
    )


def error_files() -> dict[str, bytes]:
    """HAProxy's own answers (`errorfile`: whole HTTP responses), as JSON bodies like the runtime's."""
    from http import HTTPStatus

    files = {}
    for status, message in ERRORS:
        body = json.dumps({"error": message}).encode()
        head = (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nContent-Type: application/json\r\n"
                f"Cache-Control: no-cache\r\nConnection: close\r\nContent-Length: {len(body)}\r\n\r\n")
        files[f"errors/{status}.http"] = head.encode() + body
    return files


def admin(gateway: Any, command: str, user: str) -> str:
    """One runtime-API command line (several joined by `;`) inside the gateway; its answer."""
    script = f'exec 3<>/dev/tcp/127.0.0.1/{ADMIN_PORT} && printf "%s\\n" "$1" >&3 && cat <&3'
    code, out = gateway.exec_run(["bash", "-c", script, "admin", command], user=user)
    text = str(out.decode(errors="replace"))
    if code != 0:
        raise OperationError(f"the gateway's runtime API did not answer `{command}`: {text.strip()[-300:]}",
                             fix="see `docker logs` of the gateway", where=gateway.name)
    return text


def servers_state(gateway: Any, user: str) -> dict[str, dict[str, str]]:
    """`show servers state` of the functions backend: {server name: fields}."""
    text = admin(gateway, f"show servers state {BACKEND}", user)
    lines = [line for line in text.splitlines() if line.strip()]
    header = next((line.lstrip("# ").split() for line in lines if line.startswith("#")), [])
    out: dict[str, dict[str, str]] = {}
    for line in lines:
        if line.startswith("#") or not line[0].isdigit():
            continue
        fields = dict(zip(header, line.split(), strict=False))
        if fields.get("be_name") == BACKEND:
            out[fields.get("srv_name", "")] = fields
    return out


def ready_slots(gateway: Any, user: str) -> list[str]:
    """Slots HAProxy sends new requests to (not in any maintenance)."""
    return [name for name, f in servers_state(gateway, user).items()
            if name in SLOTS and not int(f.get("srv_admin_state", "1")) & MAINT_BITS]


def switch(gateway: Any, user: str, new_slot: str, address: str, timeout: float = 20.0) -> None:
    """Send new requests to `new_slot` only, once HAProxy resolved it to `address` (the new container's IP on
    the service network, through Docker's DNS); the other slot drains what it holds."""
    deadline = time.monotonic() + timeout
    while servers_state(gateway, user).get(new_slot, {}).get("srv_addr") != address:
        if time.monotonic() > deadline:
            raise OperationError(f"the gateway did not resolve {new_slot} to {address} within {timeout:g} s",
                                 fix="see `docker logs` of the gateway", where=gateway.name)
        time.sleep(0.2)
    commands = [f"set server {BACKEND}/{new_slot} state ready"]
    commands += [f"set server {BACKEND}/{slot} state maint" for slot in SLOTS if slot != new_slot]
    answer = admin(gateway, ";".join(commands), user).strip()
    if answer:
        raise OperationError(f"the gateway refused the switch to {new_slot}: {answer[:300]}",
                             fix="see `docker logs` of the gateway", where=gateway.name)
    if ready_slots(gateway, user) != [new_slot]:
        raise OperationError(f"the gateway did not switch to {new_slot}", where=gateway.name)


def sessions(gateway: Any, user: str, slot: str) -> int:
    """Requests the gateway is exchanging with `slot` right now (`scur` of `show stat`)."""
    text = admin(gateway, "show stat", user)
    lines = text.splitlines()
    header = lines[0].lstrip("# ").split(",") if lines else []
    for line in lines[1:]:
        row = dict(zip(header, line.split(","), strict=False))
        if row.get("pxname") == BACKEND and row.get("svname") == slot:
            return int(row.get("scur") or 0)
    return 0


def drain(gateway: Any, user: str, slot: str, timeout: float) -> bool:
    """Until `slot` holds no request (True) or `timeout` passes (False)."""
    deadline = time.monotonic() + timeout
    while sessions(gateway, user, slot):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True
