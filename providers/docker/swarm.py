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
import secrets as pysecrets
import socket
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from multicloud.broker.topology import topology
from multicloud.errors import OperationError
from multicloud.private_runtime import warn_short_secrets
from multicloud.project import Project
from multicloud.provider import FunctionStatus, LogRecord, Progress, StatusReport

from . import engine as eng
from . import hardening, proxy
from .broker import SwarmBroker, mounted_passwords
from .broker_image import ensure_broker_image
from .context import SECRETS_DIR, secret_files
from .refs import resolve_host_ref
from .settings import DockerSettings
from .single import log_record

SECOND = hardening.SECOND


class Swarm:
    def __init__(self, client: Any, project: Project, settings: DockerSettings, progress: Progress) -> None:
        self.client = client
        self.project = project
        self.settings = settings
        self.progress = progress
        self.name = f"mc-{project.name}"
        self.gateway_name = f"mc-{project.name}-gateway"
        self._admin: Any = None  # the broker's admin once deploy ensured it (prunes consumers after)

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

    def deployed_digest(self) -> str | None:
        return self.labels(self.service(self.name)).get(eng.DIGEST)

    def previous(self) -> dict[str, str] | None:
        """The release before the live one, as the swarm records it (label on the service)."""
        return eng.parse_release(self.labels(self.service(self.name)).get(eng.PREVIOUS))

    def gateway_image(self) -> str | None:
        return self.image_of(self.service(self.gateway_name))

    def secrets_changed(self) -> bool:
        svc = self.service(self.name)
        try:
            values = {name: resolve_host_ref(ref, name)
                      for name, ref in secret_files(self.project, self.settings)[0].items()}
        except OperationError:
            return False
        return svc is not None and not eng.same_secrets(self.labels(svc), values)

    def settings_changed(self) -> bool:
        svc = self.service(self.name)
        return svc is not None and self.labels(svc).get(eng.RUN_CONFIG) != hardening.run_config(self.project,
                                                                                                 self.settings)

    def published_port(self, gateway: Any) -> int:
        ports = gateway.attrs.get("Endpoint", {}).get("Ports") or gateway.attrs["Spec"]["EndpointSpec"]["Ports"]
        return int(ports[0]["PublishedPort"])

    def url(self) -> str:
        gateway = self.service(self.gateway_name)
        if gateway is None:
            raise OperationError(f"{self.project.name} is not deployed on this swarm",
                                 fix="run `multicloud deploy --target docker`", where="docker")
        return f"http://{eng.public_host('0.0.0.0')}:{self.published_port(gateway)}"

    # ---- deploy ----------------------------------------------------------------------------------
    def deploy(self, image: str, digest: str, gateway_image: str) -> tuple[bool, str, int]:
        self.require_manager()
        broker_files = self.ensure_broker()
        current = self.service(self.name)
        gateway = self.service(self.gateway_name)
        host = eng.public_host("0.0.0.0")
        refs_by_file = secret_files(self.project, self.settings)[0]
        values = {name: resolve_host_ref(ref, name) for name, ref in refs_by_file.items()}
        warn_short_secrets(values, self.progress)
        if current is not None and gateway is not None and self.deployed_digest() == digest \
                and not self.settings_changed() and eng.same_secrets(self.labels(current), values):
            self.progress(f"{image} is already live on the swarm: nothing to do")
            return False, host, self.published_port(gateway)
        self.ensure_network()
        # the broker's passwords are mounted with the others (generated once, so never "rotated")
        refs = self.create_secrets({**values, **broker_files})
        spec = self.function_spec(image, digest, refs)
        spec["labels"] = {**spec["labels"], eng.SECRETS: eng.secrets_fingerprint(values)}
        previous = eng.previous_release(self.labels(current), self.image_of(current), digest)
        if previous:
            spec["labels"] = {**spec["labels"], eng.PREVIOUS: previous}
        if current is None:
            self.progress(f"creating service {self.name} ({self.settings.replicas} replicas)")
            self.client.api.create_service(**spec)
        else:
            self.progress(f"rolling update of {self.name} to {image}")
            current.reload()
            self.client.api.update_service(current.id, current.version, **spec)
        self.wait_converged(digest)
        port = self.ensure_gateway(gateway, gateway_image)
        self.remove_unused_secrets(keep={r["SecretName"] for r in refs})
        if self._admin is not None:
            self._admin.prune(topology(self.project, "docker"), self.progress)
        return True, host, port

    # ---- broker: a three-node JetStream cluster (broker.py) ----------------------------------------
    def broker(self) -> SwarmBroker:
        return SwarmBroker(self.client, self.project, self.settings, topology(self.project, "docker"),
                           self.progress)

    def ensure_broker(self) -> dict[str, str]:
        broker = self.broker()
        if broker.topology.empty:
            return {}
        ensure_broker_image(self.client, self.settings.broker_image, self.progress)  # before anything is created
        self.ensure_network()
        self._admin = broker.ensure(self.name)
        return mounted_passwords(broker.creds.passwords())

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

    def ensure_gateway(self, gateway: Any | None, gateway_image: str) -> int:
        from docker.types import ContainerSpec, EndpointSpec, Healthcheck, Resources, RestartPolicy, TaskTemplate

        config = hashlib.sha256(repr((gateway_image, self.settings.port)).encode()).hexdigest()[:16]
        if gateway is not None and (gateway.attrs["Spec"].get("Labels") or {}).get("io.multicloud.gateway-config") \
                == config:
            return self.published_port(gateway)
        port = self.settings.port or (self.published_port(gateway) if gateway is not None else free_port())
        labels = eng.labels_for(self.project.name, "gateway", self.settings.labels)
        labels["io.multicloud.gateway-config"] = config
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
        kwargs = {"task_template": template, "name": self.gateway_name, "labels": labels,
                  "mode": {"Replicated": {"Replicas": 1}}, "endpoint_spec": endpoint}
        if gateway is None:
            self.progress(f"creating the gateway service on port {port}")
            self.client.api.create_service(**kwargs)
        else:
            self.progress("updating the gateway service (its configuration changed)")
            gateway.reload()
            self.client.api.update_service(gateway.id, gateway.version, **kwargs)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            svc = self.service(self.gateway_name)
            tasks = svc.tasks(filters={"desired-state": "running"}) if svc is not None else []
            if any(t["Status"]["State"] == "running" and
                   (t["Spec"]["ContainerSpec"].get("Labels") or {}).get("io.multicloud.gateway-config") == config
                   for t in tasks):
                return port
            time.sleep(0.5)
        raise OperationError("the gateway service did not start", fix=f"see `docker service ps {self.gateway_name}`",
                             where=self.gateway_name)

    # ---- secrets and network ---------------------------------------------------------------------
    def create_secrets(self, values: dict[str, str]) -> list[Any]:
        """One Swarm secret per value and deploy (secrets are immutable); mounted as root-owned 0440 files."""
        from docker.types import SecretReference

        uid, gid = hardening.uid_gid(self.settings)
        suffix = pysecrets.token_hex(4)
        refs = []
        for file_name, value in sorted(values.items()):
            name = f"{self.name}-{file_name.lower().replace('_', '-')}-{suffix}"[:64]
            secret = self.client.secrets.create(
                name=name, data=value.encode(),
                labels=eng.labels_for(self.project.name, "secret", self.settings.labels))
            refs.append(SecretReference(secret.id, name, filename=f"{SECRETS_DIR}/{file_name}", uid="0",
                                        gid=gid, mode=0o440))
        return refs

    def remove_unused_secrets(self, keep: set[str]) -> None:
        from docker.errors import APIError

        for secret in self.client.secrets.list(filters={"label": [f"{eng.SERVICE}={self.project.name}",
                                                                   f"{eng.ROLE}=secret"]}):
            if secret.name not in keep:
                try:
                    secret.remove()
                except APIError:
                    pass  # still referenced by a task being shut down: removed on the next deploy

    def ensure_network(self) -> None:
        if not self.client.networks.list(names=[self.name]):
            self.client.networks.create(self.name, driver="overlay", attachable=True, check_duplicate=True,
                                        labels=eng.labels_for(self.project.name, "network", self.settings.labels))

    # ---- read back -------------------------------------------------------------------------------
    def status(self) -> StatusReport:
        svc = self.service(self.name)
        gateway = self.service(self.gateway_name)
        if svc is None and gateway is None:
            return StatusReport("docker", deployed=False)
        details = {"mode": "swarm"}
        url = None
        if gateway is not None:
            url = f"http://{eng.public_host('0.0.0.0')}:{self.published_port(gateway)}"
            details["url"] = url
        if svc is None:
            return StatusReport("docker", deployed=True, details=details, functions=tuple(
                FunctionStatus(fn.name, "missing") for fn in self.project.functions_for("docker")))
        tasks = svc.tasks()
        running = [t for t in tasks if t["DesiredState"] == "running" and t["Status"]["State"] == "running"]
        failed = [t for t in tasks if t["Status"]["State"] in ("failed", "rejected")]
        ooms = sum(1 for t in failed if t["Status"].get("ContainerStatus", {}).get("ExitCode") == 137)
        update = (svc.attrs.get("UpdateStatus") or {}).get("State", "none")
        details.update(replicas=f"{len(running)}/{self.settings.replicas}", update=update,
                       failed_tasks=str(len(failed)), exit_137_tasks=str(ooms))
        state = "running" if len(running) >= self.settings.replicas else ("degraded" if running else "failed")
        digest = ((svc.attrs["Spec"].get("Labels") or {}).get(eng.DIGEST) or "")[:12] or None
        detail = f"{len(running)}/{self.settings.replicas} tasks running; update {update}; {len(failed)} failed tasks"
        return StatusReport("docker", deployed=True, details=details, functions=tuple(
            FunctionStatus(fn.name, state, version=digest, endpoint=url, detail=detail)
            for fn in self.project.functions_for("docker")))

    def logs(self, function: str | None, since: datetime | None, follow: bool) -> Iterator[LogRecord]:
        svc = self.service(self.name)
        if svc is None:
            return
        kwargs: dict[str, Any] = {"stdout": True, "stderr": True, "timestamps": True, "follow": follow}
        if since is not None:
            kwargs["since"] = int(since.timestamp())
        buf = b""
        for chunk in svc.logs(**kwargs):
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode(errors="replace")
                # Swarm prefixes task details: "<timestamp> <task>@<node> | <message>" with details on
                stamp, _, rest = text.partition(" ")
                message = rest.split(" | ", 1)[-1]
                record = log_record(f"{stamp} {message}", function)
                if record is not None:
                    yield record

    def remove(self) -> list[str]:
        removed = []
        for name in (self.gateway_name, self.name):
            svc = self.service(name)
            if svc is not None:
                svc.remove()
                removed.append(name)
        removed += self.broker().remove()
        # tasks take a moment to go; secrets, volumes and the network can only go after them
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.client.containers.list(
                all=True, ignore_removed=True, filters={"label": f"com.docker.swarm.service.name={self.name}"}):
            time.sleep(0.5)
        while time.monotonic() < deadline and any(self.client.containers.list(
                all=True, ignore_removed=True, filters={"label": f"com.docker.swarm.service.name={n}"})
                for n in self.broker().names()):
            time.sleep(0.5)
        for c in self.client.containers.list(all=True, ignore_removed=True, filters=eng.owned(self.project.name)):
            c.remove(force=True)  # helpers left by an interrupted deploy
        for volume in self.client.volumes.list(filters=eng.owned(self.project.name)):
            try:
                volume.remove(force=True)
                removed.append(volume.name)
            except Exception:  # noqa: BLE001 - still in use by a task on its way out: the next remove takes it
                pass
        for secret in self.client.secrets.list(filters={"label": f"{eng.SERVICE}={self.project.name}"}):
            secret.remove()
            removed.append(secret.name)
        for net in self.client.networks.list(filters=eng.owned(self.project.name)):
            for _ in range(20):
                try:
                    net.remove()
                    removed.append(net.name)
                    break
                except Exception:  # noqa: BLE001 - endpoints of stopping tasks linger a moment
                    time.sleep(0.5)
        return removed


def free_port() -> int:
    """A free port on this host, for a local engine (set targets.docker.port for a remote swarm)."""
    with socket.socket() as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])
