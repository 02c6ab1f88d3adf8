"""Swarm mode (`targets: docker: {mode: swarm, replicas: N}`): a Swarm service behind a gateway service.

    mc-<service>          the function: N replicas, `dnsrr` endpoint (no published port), rolling updates
                          (one task at a time, start-first, health-gated; a failed update rolls back by
                          itself), resource limits (CPU, memory, pids), on-failure restarts, Swarm secrets
    mc-<service>-gateway  one replica of the gateway (HAProxy, proxy.py), publishing the stable port in
                          *host* mode

Swarm keeps its own routing: the gateway switches nothing here, it follows the tasks Docker's DNS lists for
`mc-<service>` (one address per running task, `dnsrr`, re-resolved every second); a refused connection
(a task that just stopped listening) is retried on another task. Why host mode and dnsrr: the ingress
routing mesh does not answer on every host (it does not here), and host-mode ports allow one task per port
per node, which would stall start-first updates of the function if it published the port itself. Swarm
cannot bind a published port to one address: the gateway's port is open on every interface of the node
(firewall it, or use single mode).
"""

from __future__ import annotations

import hashlib
import socket
import time
from typing import Any

from multicloud.broker.topology import topology
from multicloud.errors import OperationError
from multicloud.project import Project
from multicloud.provider import Progress

from . import engine as eng
from . import hardening, proxy
from .broker import SwarmBroker
from .context import SECRETS_DIR, secret_files
from .refs import resolve_host_ref
from .settings import DockerSettings

SECOND = hardening.SECOND
GATEWAY_CONFIG = "io.multicloud.gateway-config"


class Swarm:
    def __init__(self, client: Any, project: Project, settings: DockerSettings, progress: Progress) -> None:
        self.client = client
        self.project = project
        self.settings = settings
        self.progress = progress
        self.name = f"mc-{project.name}"
        self.gateway_name = f"mc-{project.name}-gateway"

    # ---- discovery -------------------------------------------------------------------------------
    def require_manager(self) -> None:
        swarm = self.client.info().get("Swarm", {})
        if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
            raise OperationError("the Docker Engine is not a Swarm manager",
                                 fix="run `docker swarm init` (or join a swarm as manager), or use mode: single",
                                 where="targets.docker.mode")

    def service(self, name: str) -> Any | None:
        found = [s for s in self.client.services.list(filters={"name": name}) if s.name == name]
        return found[0] if found else None

    @staticmethod
    def labels(svc: Any | None) -> dict[str, str]:
        return dict(svc.attrs["Spec"].get("Labels") or {}) if svc is not None else {}

    @staticmethod
    def image_of(svc: Any | None) -> str | None:
        return str(svc.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]) if svc is not None else None

    def previous(self) -> dict[str, str] | None:
        """The release before the live one, as the swarm records it (label on the service)."""
        return eng.parse_release(self.labels(self.service(self.name)).get(eng.PREVIOUS))

    def gateway_image(self) -> str | None:
        return self.image_of(self.service(self.gateway_name))

    def resolve_secrets(self) -> dict[str, str]:
        refs, _ = secret_files(self.project, self.settings)
        return {name: resolve_host_ref(ref, name) for name, ref in refs.items()}

    def published_port(self, gateway: Any) -> int:
        ports = gateway.attrs.get("Endpoint", {}).get("Ports") or gateway.attrs["Spec"]["EndpointSpec"]["Ports"]
        return int(ports[0]["PublishedPort"])

    # ---- broker: a three-node JetStream cluster (broker.py) ----------------------------------------
    def broker(self) -> SwarmBroker:
        return SwarmBroker(self.client, self.project, self.settings, topology(self.project, "docker"),
                           self.progress)

    def function_spec(self, image: str, digest: str, secret_refs: list[Any]) -> dict[str, Any]:
        from docker.types import (
            ContainerSpec,
            EndpointSpec,
            Healthcheck,
            Mount,
            Resources,
            RestartPolicy,
            RollbackConfig,
            TaskTemplate,
            UpdateConfig,
        )

        labels = eng.labels_for(self.project.name, "function", self.settings.labels, digest=digest)
        labels[eng.RUN_CONFIG] = hardening.run_config(self.project, self.settings)
        memory = hardening.memory_mb(self.project) * 2**20
        container = ContainerSpec(
            image=image, user=hardening.common(self.settings)["user"], labels=labels, read_only=True,
            init=True, cap_drop=["ALL"], stop_signal="SIGTERM",
            stop_grace_period=(hardening.max_timeout(self.project) + 2) * SECOND,
            env={"MULTICLOUD_SCRATCH_DIR": hardening.SCRATCH},
            # Swarm marks a task running only once healthy, so a rolling update waits for this check:
            # probe every second (Engine 20.10 has no separate start interval).
            healthcheck=Healthcheck(**hardening.healthcheck(hardening.HEALTH_CMD, interval=1.0,
                                                            start_period=30.0)),
            mounts=[Mount(target=hardening.SCRATCH, source=None, type="tmpfs",
                          tmpfs_size=self.settings.scratch_mb * 2**20, tmpfs_mode=0o1777)],
            secrets=secret_refs or None,
        )
        resources = Resources(cpu_limit=int(self.settings.cpus * SECOND), mem_limit=memory)
        resources["Limits"]["Pids"] = self.settings.pids_limit  # Engine API 1.41; docker-py has no kwarg yet
        template = TaskTemplate(
            container_spec=container, resources=resources,
            restart_policy=RestartPolicy(condition="on-failure", delay=SECOND // 2,
                                         max_attempts=self.settings.restart_retries),
            networks=[self.name],
        )
        return {
            "task_template": template,
            "name": self.name,
            "labels": labels,
            "mode": {"Replicated": {"Replicas": self.settings.replicas}},
            "update_config": UpdateConfig(parallelism=1, delay=SECOND, failure_action="rollback",
                                          monitor=5 * SECOND, max_failure_ratio=0, order="start-first"),
            "rollback_config": RollbackConfig(parallelism=1, delay=0, failure_action="pause",
                                              monitor=5 * SECOND, max_failure_ratio=0, order="start-first"),
            "endpoint_spec": EndpointSpec(mode="dnsrr"),
        }

    def wait_converged(self, digest: str) -> None:
        """Until N tasks of the new version run (healthy), or Swarm reports the update failed/rolled back."""
        deadline = time.monotonic() + self.settings.health_timeout + 30 * self.settings.replicas
        while True:
            svc = self.service(self.name)
            assert svc is not None
            update = (svc.attrs.get("UpdateStatus") or {}).get("State")
            if update in ("rollback_started", "rollback_completed", "rollback_paused", "paused"):
                message = (svc.attrs.get("UpdateStatus") or {}).get("Message", "")
                self.wait_rollback(svc)
                raise OperationError(
                    f"the rolling update of {self.name} failed ({update}: {message}); Swarm rolled back to "
                    "the previous version, which keeps serving",
                    fix=f"see `docker service ps {self.name} --no-trunc` and `multicloud logs --target docker`",
                    where=self.name)
            spec_digest = (svc.attrs["Spec"].get("Labels") or {}).get(eng.DIGEST)
            running = [t for t in svc.tasks(filters={"desired-state": "running"})
                       if t["Status"]["State"] == "running"
                       and ((t["Spec"]["ContainerSpec"].get("Labels") or {}).get(eng.DIGEST) == digest)]
            done = update in (None, "completed") and spec_digest == digest
            if done and len(running) >= self.settings.replicas:
                return
            if time.monotonic() > deadline:
                raise OperationError(f"{self.name} did not converge to {self.settings.replicas} healthy "
                                     f"tasks in time (update state: {update})",
                                     fix=f"see `docker service ps {self.name} --no-trunc`", where=self.name)
            time.sleep(0.5)

    def wait_rollback(self, svc: Any) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            svc.reload()
            state = (svc.attrs.get("UpdateStatus") or {}).get("State")
            if state in ("rollback_completed", "rollback_paused", "paused"):
                return
            time.sleep(0.5)

    def gateway_config(self, gateway_image: str) -> str:
        return hashlib.sha256(repr((gateway_image, self.settings.port)).encode()).hexdigest()[:16]

    def gateway_spec(self, gateway_image: str, port: int) -> dict[str, Any]:
        """The gateway service: one replica publishing `port` in host mode, labelled with its configuration."""
        from docker.types import ContainerSpec, EndpointSpec, Healthcheck, Resources, RestartPolicy, TaskTemplate

        labels = eng.labels_for(self.project.name, "gateway", self.settings.labels)
        labels[GATEWAY_CONFIG] = self.gateway_config(gateway_image)
        uid, gid = hardening.uid_gid(self.settings)
        container = ContainerSpec(
            image=gateway_image, user=f"{uid}:{gid}", labels=labels, read_only=True, init=True,
            cap_drop=["ALL"], stop_signal="SIGUSR1",
            healthcheck=Healthcheck(**hardening.healthcheck(proxy.HEALTH_CMD, start_period=10.0)),
        )
        resources = Resources(cpu_limit=int(max(self.settings.cpus, 0.5) * SECOND), mem_limit=128 * 2**20)
        resources["Limits"]["Pids"] = 64
        template = TaskTemplate(container_spec=container, resources=resources,
                                restart_policy=RestartPolicy(condition="on-failure", delay=SECOND // 2),
                                networks=[self.name])
        endpoint = EndpointSpec(mode="vip", ports=[
            {"Protocol": "tcp", "TargetPort": eng.INTERNAL_PORT, "PublishedPort": port, "PublishMode": "host"}])
        return {"task_template": template, "name": self.gateway_name, "labels": labels,
                "mode": {"Replicated": {"Replicas": 1}}, "endpoint_spec": endpoint}

    def wait_gateway(self, config: str) -> None:
        """Until a gateway task with configuration `config` runs."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            svc = self.service(self.gateway_name)
            tasks = svc.tasks(filters={"desired-state": "running"}) if svc is not None else []
            if any(t["Status"]["State"] == "running" and
                   (t["Spec"]["ContainerSpec"].get("Labels") or {}).get(GATEWAY_CONFIG) == config for t in tasks):
                return
            time.sleep(0.5)
        raise OperationError("the gateway service did not start", fix=f"see `docker service ps {self.gateway_name}`",
                             where=self.gateway_name)

    def secret_refs(self, names: dict[str, str]) -> list[Any]:
        """{file in the secrets mount: Swarm secret name} -> references (root-owned 0440 files)."""
        from docker.types import SecretReference

        _, gid = hardening.uid_gid(self.settings)
        ids = {s.name: s.id for s in self.client.secrets.list(filters=eng.owned(self.project.name))}  # broker's too
        missing = sorted(n for n in names.values() if n not in ids)
        if missing:
            raise OperationError(f"the Swarm secrets {', '.join(missing)} are gone", where=self.name,
                                 fix="plan and deploy again")
        return [SecretReference(ids[name], name, filename=f"{SECRETS_DIR}/{file_name}", uid="0", gid=gid, mode=0o440)
                for file_name, name in sorted(names.items())]

    def secret_names(self, svc: Any | None) -> dict[str, str]:
        """{file in the secrets mount: Swarm secret name} of the function service as it runs now."""
        if svc is None:
            return {}
        refs = svc.attrs["Spec"]["TaskTemplate"]["ContainerSpec"].get("Secrets") or []
        prefix = f"{SECRETS_DIR}/"
        return {str(r["File"]["Name"]).removeprefix(prefix): str(r["SecretName"]) for r in refs}


def free_port() -> int:
    """A free port on this host, for a local engine (set targets.docker.port for a remote swarm)."""
    with socket.socket() as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])
