"""The gateway's network on a real engine: on a Linux engine HAProxy runs on the host network (it binds
publish_host:port itself: no docker-proxy, no NAT), switches slots by address over a UNIX-socket runtime API
and saves the servers' state for a restart; `gateway_network: bridge` (and `auto` on Docker Desktop, rootless
or non-Linux engines) falls back to a port the engine publishes, and moving between the two keeps the URL.

The blue/green redeploys under load and the gateway's kill -9 in test_docker_reliability.py run on the default
(host network on this engine); this file proves what is specific to each network.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from docker_loadgen import Load

from multicloud.providers.docker import engine as eng
from multicloud.providers.docker import proxy

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "/hello", timeout=10) as resp:
        return dict(json.loads(resp.read()))


def _listeners(pid: int) -> set[tuple[str, int]]:
    """The TCP addresses a host-network process and its children (HAProxy under docker-init) listen on: their
    socket inodes in /proc/net/tcp."""
    inodes, pids = set(), [pid]
    while pids:
        current = pids.pop()
        pids += [int(c) for c in Path(f"/proc/{current}/task/{current}/children").read_text().split()]
        for fd in Path(f"/proc/{current}/fd").iterdir():
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = set()
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
            hex_ip, hex_port = fields[1].split(":")
            ip = ".".join(str(int(hex_ip[i:i + 2], 16)) for i in (6, 4, 2, 0))
            found.add((ip, int(hex_port, 16)))
    return found


def _state_lines(gateway: Any) -> dict[str, list[str]]:
    code, out = gateway.exec_run(["cat", proxy.STATE_FILE], user=gateway.attrs["Config"]["User"])
    assert code == 0, out
    return {f[3]: f for f in (line.split() for line in out.decode().splitlines()) if len(f) > 6 and f[0].isdigit()}


def test_host_network_gateway_binds_the_port_itself_switches_by_address_and_leaves_nothing(
        engine: Any, deployed: Any) -> None:
    d = deployed("gwhost")
    d.deploy()
    mode = d.provider.mode()
    gateway = mode.gateway()
    gateway.reload()
    port = urlsplit(d.url).port
    assert gateway.attrs["HostConfig"]["NetworkMode"] == "host"
    assert not gateway.attrs["NetworkSettings"]["Ports"]  # nothing published: no docker-proxy, no NAT rule
    # HAProxy listens on publish_host:port and nothing else (its runtime API is a UNIX socket, not the host's
    # loopback, which every local user shares)
    assert _listeners(gateway.attrs["State"]["Pid"]) == {("127.0.0.1", port)}
    assert _get(d.url)["version"] == "v1"
    # single mode: one HAProxy thread, glibc's heap not trimmed under it (proxy.gateway_threads, docs/docker.md)
    info = dict(line.split(": ", 1) for line in proxy.admin(gateway, "show info", mode.admin_user).splitlines()
                if ": " in line)
    assert info["Nbthread"] == "1", info.get("Nbthread")
    assert "GLIBC_TUNABLES=glibc.malloc.trim_threshold=33554432" in gateway.attrs["Config"]["Env"]

    spec = d.spec.read_text()
    d.spec.write_text(spec.replace('VERSION: "v1"', 'VERSION: "v2"'))
    d.reload()
    with Load(d.url, "/hello", workers=3, max_requests=40_000, max_seconds=90) as load:
        time.sleep(0.5)
        assert d.deploy().changed
        done = time.monotonic()
        time.sleep(0.5)
    after = {json.loads(o.body)["version"] for o in load.outcomes if o.ok and o.started > done}
    print(f"\nhost-network gateway, one redeploy under load: {len(load.outcomes)} requests, "
          f"{len(load.failures)} failed")
    assert load.failures == [], load.failures[:3]
    assert after == {"v2"}
    assert d.url.endswith(f":{port}")  # the same endpoint

    # what a restarted gateway starts from: the live slot at the new container's address, the other in
    # maintenance (the kill -9 of the gateway itself is in test_docker_reliability.py)
    live = mode.live()
    assert live is not None
    live.reload()
    address = live.attrs["NetworkSettings"]["Networks"][mode.names.network]["IPAddress"]
    slot = live.labels[proxy.SLOT_LABEL]
    other = next(s for s in proxy.SLOTS if s != slot)
    state = _state_lines(mode.gateway())
    assert state[slot][4] == address and not int(state[slot][6]) & proxy.MAINT_BITS
    assert int(state[other][6]) & proxy.MAINT_BITS

    service = d.provider.project.name
    d.provider.remove()
    assert engine.containers.list(all=True, filters=eng.owned(service)) == []
    assert engine.volumes.list(filters=eng.owned(service)) == []  # the state volume went with the gateway


def test_bridge_fallback_publishes_the_port_and_moving_to_host_keeps_the_url(engine: Any, deployed: Any) -> None:
    d = deployed("gwbridge", docker="gateway_network: bridge")
    d.deploy()
    mode = d.provider.mode()
    gateway = mode.gateway()
    gateway.reload()
    port = urlsplit(d.url).port
    assert gateway.attrs["HostConfig"]["NetworkMode"] == mode.names.network
    bindings = gateway.attrs["NetworkSettings"]["Ports"][f"{eng.INTERNAL_PORT}/tcp"]
    assert bindings[0]["HostIp"] == "127.0.0.1" and int(bindings[0]["HostPort"]) == port
    assert _get(d.url)["version"] == "v1"

    d.spec.write_text(d.spec.read_text().replace("gateway_network: bridge", "gateway_network: host"))
    d.reload()
    d.deploy()  # the gateway's configuration changed: recreated on the host network, on the same port
    gateway = mode.gateway()
    gateway.reload()
    assert gateway.attrs["HostConfig"]["NetworkMode"] == "host"
    assert urlsplit(d.url).port == port
    assert _get(d.url)["version"] == "v1"


def test_auto_picks_the_host_network_only_where_the_engine_has_one(engine: Any) -> None:
    assert proxy.host_network_refusal(engine.info()) is None  # this engine: Linux, rootful, not Desktop
    desktop = {"OSType": "linux", "OperatingSystem": "Docker Desktop", "SecurityOptions": ["name=seccomp"]}
    rootless = {"OSType": "linux", "OperatingSystem": "Debian GNU/Linux 12 (bookworm)",
                "SecurityOptions": ["name=seccomp,profile=builtin", "name=rootless", "name=cgroupns"]}
    windows = {"OSType": "windows", "OperatingSystem": "Windows Server 2022 Datacenter"}
    assert "Docker Desktop" in str(proxy.host_network_refusal(desktop))
    assert "rootless" in str(proxy.host_network_refusal(rootless))
    assert "windows" in str(proxy.host_network_refusal(windows))
