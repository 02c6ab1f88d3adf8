"""How a function or gateway container runs: the hardened options, as data, in one place.

Non-root user, read-only root filesystem, a tmpfs scratch directory, every capability dropped,
no-new-privileges, pids/memory/CPU limits, an init process that reaps zombies and forwards signals,
ownership labels, a health check that needs only python3 (minbase images have no curl), and restart on
failure. The same values feed the single-container mode and the Swarm service (`swarm.py`).
"""

from __future__ import annotations

from typing import Any

from multicloud.project import Project

from . import engine as eng
from .settings import DockerSettings

SECOND = 1_000_000_000
SCRATCH = "/tmp"
HEALTH_URL = f"http://127.0.0.1:{eng.INTERNAL_PORT}/healthz"
HEALTH_CMD = ["CMD", "python3", "-c",
              f"import urllib.request; urllib.request.urlopen('{HEALTH_URL}', timeout=2)"]


def healthcheck(cmd: list[str], *, interval: float = 5.0, start_period: float = 30.0) -> dict[str, Any]:
    """Docker's periodic check. Each probe starts a python3 (about 50 ms of CPU), so steady state probes
    every 5 s; blue/green readiness does not wait for it (`single.Single.wait_healthy` probes directly).
    """
    return {"test": cmd, "interval": int(interval * SECOND), "timeout": 3 * SECOND, "retries": 3,
            "start_period": int(start_period * SECOND)}


def memory_mb(project: Project) -> int:
    """One process serves every function of the service: it gets the largest memory any of them asks."""
    return max(fn.memory for fn in project.functions_for("docker"))


def max_timeout(project: Project) -> int:
    return max(fn.timeout for fn in project.functions_for("docker"))


def run_config(project: Project, settings: DockerSettings) -> str:
    """Hash of every setting applied at run time (not baked into the image): a change is a redeploy."""
    import hashlib
    import json

    data = settings.model_dump(mode="json", exclude={"base_image", "concurrency", "max_body_mb", "auth_key",
                                                     "broker_image", "gateway_network"})
    data.update(memory=memory_mb(project), timeout=max_timeout(project))
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def uid_gid(settings: DockerSettings) -> tuple[str, str]:
    uid, _, gid = settings.user.partition(":")
    return uid, gid or uid


def common(settings: DockerSettings) -> dict[str, Any]:
    uid, gid = uid_gid(settings)
    return {
        "user": f"{uid}:{gid}",
        "read_only": True,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "init": True,
        "restart_policy": {"Name": "on-failure", "MaximumRetryCount": settings.restart_retries},
    }


def function_options(project: Project, settings: DockerSettings, *, image: str, name: str, network: str,
                     labels: dict[str, str], secrets_volume: str | None, aliases: list[str]) -> dict[str, Any]:
    uid, gid = uid_gid(settings)
    memory = memory_mb(project)
    opts = common(settings)
    opts.update(
        image=image,
        name=name,
        detach=True,
        hostname=name[:63],
        labels=labels,
        network=network,
        tmpfs={SCRATCH: f"rw,noexec,nosuid,nodev,size={settings.scratch_mb}m,uid={uid},gid={gid},mode=0700"},
        pids_limit=settings.pids_limit,
        mem_limit=f"{memory}m",
        memswap_limit=f"{memory}m",  # no swap: over the limit means OOM-killed, as on a FaaS platform
        nano_cpus=int(settings.cpus * SECOND),
        healthcheck=healthcheck(HEALTH_CMD),
        stop_signal="SIGTERM",
        environment={"MULTICLOUD_SCRATCH_DIR": SCRATCH},
    )
    if aliases:
        from docker.types import EndpointConfig

        # the gateway finds the container of a slot by this name, through Docker's DNS (proxy.py)
        opts["networking_config"] = {network: EndpointConfig("1.41", aliases=aliases)}
    if secrets_volume:
        from docker.types import Mount

        opts["mounts"] = [Mount(target="/run/multicloud/secrets", source=secrets_volume, type="volume",
                                read_only=True)]
    return opts


def gateway_options(settings: DockerSettings, *, image: str, name: str, network: str, labels: dict[str, str],
                    port: int | None, host_network: bool = False) -> dict[str, Any]:
    """HAProxy (its image's own command and configuration), hardened like the function, owning the port:
    published by the engine on the service network, or bound by HAProxy itself on the host network (its
    runtime API's socket on a tmpfs, the servers' state on a volume of its own; proxy.py)."""
    from . import proxy

    opts = common(settings)
    if host_network:
        from docker.types import Mount

        assert port is not None, "a host-network gateway binds a port chosen before it starts"
        uid, gid = uid_gid(settings)
        volume_labels = {**labels, eng.ROLE: "gateway-state"}
        opts.update(
            network_mode="host",
            labels={**labels, proxy.PORT_LABEL: str(port)},
            environment={proxy.BIND_ENV: proxy.bind_address(settings.publish_host, port)},
            tmpfs={proxy.ADMIN_DIR: f"rw,noexec,nosuid,nodev,size=1m,uid={uid},gid={gid},mode=0700"},
            mounts=[Mount(target=proxy.STATE_DIR, source=f"{name}-state", type="volume", labels=volume_labels)],
            healthcheck=healthcheck(proxy.host_health_cmd(settings.publish_host, port), start_period=10.0),
        )
    else:
        opts.update(
            labels=labels,
            network=network,
            ports={f"{eng.INTERNAL_PORT}/tcp": (settings.publish_host, port)},
            healthcheck=healthcheck(proxy.HEALTH_CMD, start_period=10.0),
        )
    opts.update(
        image=image,
        name=name,
        detach=True,
        pids_limit=64,
        mem_limit="128m",
        memswap_limit="128m",
        nano_cpus=int(max(settings.cpus, 0.5) * SECOND),
        stop_signal="SIGUSR1",  # HAProxy's graceful stop (SIGTERM stops it hard)
    )
    return opts
