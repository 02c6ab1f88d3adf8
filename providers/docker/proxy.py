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

Host network (single mode on a Linux engine, `gateway_network`): the gateway shares the host's network
namespace and binds `publish_host:port` itself, so a client reaches HAProxy without the engine's userland
docker-proxy or its NAT (measured: about 1.5x the requests per second, docs/docker.md). There is no Docker
DNS in the host's namespace: the deploy sets the slot's address over the runtime API, and saves the servers'
state to a file on a small volume that HAProxy reads when it restarts (`server-state-file`). The runtime
API is a UNIX socket on the gateway's tmpfs (the host's loopback is shared with every local user), reached
with `docker exec` and perl (perl-base is in every Debian image), for the gateway's user only.
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal

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
NETWORK_LABEL = "io.multicloud.gateway-network"  # on the gateway image: host | bridge
PORT_LABEL = "io.multicloud.gateway-port"  # on a host-network gateway: the port it binds
ADMIN_DIR = "/run/multicloud-gateway"  # tmpfs: the runtime API's UNIX socket (host network)
ADMIN_SOCKET = f"{ADMIN_DIR}/admin.sock"
STATE_DIR = "/var/lib/multicloud-gateway"  # volume: the servers' state a restarted gateway reads (host network)
STATE_FILE = f"{STATE_DIR}/servers.state"
BIND_ENV = "MULTICLOUD_GATEWAY_BIND"
PLACEHOLDER = "192.0.2.1"  # a slot's address before any switch (host network): RFC 5737, routes nowhere
#: the runtime API over the UNIX socket, and after a switch the servers' state saved for a restart (perl-base:
#: the one scripting language every Debian image has; bash cannot open a UNIX socket)
HOST_ADMIN = r"""
use IO::Socket::UNIX;
my ($sock, $backend, $state, @commands) = @ARGV;
sub cli {
    my $s = IO::Socket::UNIX->new(Peer => $sock) or die "cannot connect to $sock: $!\n";
    print $s "$_[0]\n";
    local $/;
    my $r = <$s>;
    return defined $r ? $r : "";
}
for my $cmd (@commands) {
    my $r = cli($cmd);
    print $r;
    # a `set` answers nothing, or for an address what changed: anything else refused it; stop before the next
    exit 3 if $cmd =~ /^set / && $r =~ /\S/ && $r !~ /changed from|no need to change the addr/;
}
if ($state) {
    my $text = cli("show servers state $backend");
    open(my $f, ">", "$state.tmp") or die "cannot write $state.tmp: $!\n";
    print $f $text;
    close($f) or die "cannot write $state.tmp: $!\n";
    rename("$state.tmp", $state) or die "cannot rename $state.tmp: $!\n";
}
"""
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


def host_network_refusal(info: dict[str, Any]) -> str | None:
    """Why an engine (its `docker info`) cannot give the gateway the host's network, or None when it can.

    Docker Desktop runs the engine in a VM (its "host" is the VM, not the machine clients are on); a rootless
    engine's host network is rootlesskit's namespace; only Linux containers have one at all."""
    if info.get("OSType", "linux") != "linux":
        return f"the engine runs {info.get('OSType')} containers"
    if "Docker Desktop" in str(info.get("OperatingSystem", "")):
        return "Docker Desktop runs the engine in a VM"
    if any("rootless" in str(opt) for opt in info.get("SecurityOptions") or []):
        return "the engine is rootless"
    return None


def gateway_network(client: Any, settings: DockerSettings) -> Literal["host", "bridge"]:
    """The network the single-mode gateway runs on: `gateway_network`, `auto` decided from the engine."""
    if settings.mode != "single" or settings.gateway_network == "bridge":
        return "bridge"
    if settings.gateway_network == "host":
        return "host"
    return "bridge" if host_network_refusal(client.info()) else "host"


def image_network(client: Any, image: str) -> Literal["host", "bridge"]:
    """What a gateway image was rendered for (its label): a container of it must run on that network."""
    labels = client.images.get(image).labels or {}
    return "host" if labels.get(NETWORK_LABEL) == "host" else "bridge"


def on_host_network(gateway: Any) -> bool:
    return bool(gateway.attrs.get("HostConfig", {}).get("NetworkMode") == "host")


def gateway_port(gateway: Any) -> int | None:
    """The host port a (reloaded) gateway serves on: the engine's binding, or on the host network the port it
    binds itself (its label: no binding records it)."""
    if on_host_network(gateway):
        value = (gateway.labels or {}).get(PORT_LABEL)
        return int(value) if value else None
    bindings = gateway.attrs["NetworkSettings"]["Ports"].get(f"{eng.INTERNAL_PORT}/tcp") or []
    return int(bindings[0]["HostPort"]) if bindings else None


def bind_address(host: str, port: int) -> str:
    """HAProxy's `bind` address (it splits the port at the last colon, so IPv6 needs no brackets)."""
    return f"{host}:{port}"


def host_health_cmd(host: str, port: int) -> list[str]:
    """The host-network gateway's health check: its own listener on the host."""
    target = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
    return ["CMD", "bash", "-c", f"exec 3<>/dev/tcp/{target}/{port}"]


def alias(service: str, slot: str) -> str:
    return f"mc-{service}-{slot}"


def gateway_threads(settings: DockerSettings, mode: str) -> int:
    """HAProxy's threads. Single mode: one. It fronts one runtime process (one event loop), which one
    HAProxy thread outpaces several times over; a second thread only adds wake-ups and cross-thread handoffs
    (measured with `cpus: 2`: about 0.7x the requests per second, 1.5x HAProxy's CPU per request,
    docs/docker.md). Swarm: one per CPU of the service, for its replicas."""
    return 1 if mode == "single" else max(1, round(settings.cpus))


def render_config(project: Project, settings: DockerSettings, mode: str, network: str = "bridge") -> str:
    """haproxy.cfg for the service: the runtime's own limits and timeouts (server_config.Limits) at the door."""
    from multicloud.runtime.server_config import Limits

    from .hardening import max_timeout

    limits = Limits()
    return render(
        "docker", "haproxy.cfg.j2", service=project.name, mode=mode, port=eng.INTERNAL_PORT, admin_port=ADMIN_PORT,
        maxconn=1024, threads=gateway_threads(settings, mode), bufsize=limits.max_header_bytes + 1024,
        header_timeout=f"{limits.header_timeout:g}", client_timeout=f"{limits.write_timeout:g}",
        keepalive_timeout=f"{limits.keepalive_timeout:g}", server_timeout=max_timeout(project) + 5,
        connect_wait=CONNECT_WAIT, max_body=int(settings.max_body_mb * 1024 * 1024), errors=ERRORS,
        slots=SLOTS, alias_prefix=f"mc-{project.name}", service_name=f"mc-{project.name}",
        template_size=max(4, settings.replicas * 2 + 2), host_network=network == "host",
        admin_socket=ADMIN_SOCKET, state_file=STATE_FILE, placeholder=PLACEHOLDER,
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


def admin(gateway: Any, command: str, user: str, save_state: bool = False) -> str:
    """One runtime-API command line (several joined by `;`) inside the gateway; its answer. `save_state`: then
    the servers' state into the state file (host network: what a restarted gateway starts from)."""
    if on_host_network(gateway):  # one connection per command, stopping at the first refused `set`
        argv = ["perl", "-e", HOST_ADMIN, ADMIN_SOCKET, BACKEND, STATE_FILE if save_state else "",
                *command.split(";")]
    else:
        script = f'exec 3<>/dev/tcp/127.0.0.1/{ADMIN_PORT} && printf "%s\\n" "$1" >&3 && cat <&3'
        argv = ["bash", "-c", script, "admin", command]
    code, out = gateway.exec_run(argv, user=user)
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
    the service network, through Docker's DNS; on the host network the deploy sets it); the other slot drains
    what it holds."""
    commands = [f"set server {BACKEND}/{new_slot} state ready"]
    commands += [f"set server {BACKEND}/{slot} state maint" for slot in SLOTS if slot != new_slot]
    host = on_host_network(gateway)
    if host:  # the address first, in the same exec (nothing is switched if it is refused), then saved
        commands.insert(0, f"set server {BACKEND}/{new_slot} addr {address} port {eng.INTERNAL_PORT}")
    else:
        deadline = time.monotonic() + timeout
        while servers_state(gateway, user).get(new_slot, {}).get("srv_addr") != address:
            if time.monotonic() > deadline:
                raise OperationError(f"the gateway did not resolve {new_slot} to {address} within {timeout:g} s",
                                     fix="see `docker logs` of the gateway", where=gateway.name)
            time.sleep(0.2)
    answer = admin(gateway, ";".join(commands), user, save_state=host).strip()
    refused = [line for line in answer.splitlines()
               if line.strip() and not (host and ("changed from" in line or "no need to change the addr" in line))]
    if refused:
        raise OperationError(f"the gateway refused the switch to {new_slot}: {' '.join(refused)[:300]}",
                             fix="see `docker logs` of the gateway", where=gateway.name)
    if servers_state(gateway, user).get(new_slot, {}).get("srv_addr") != address or ready_slots(
            gateway, user) != [new_slot]:
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
