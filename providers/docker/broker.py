"""The docker target's broker: NATS JetStream for queue, stream and storage triggers, one per service.

single mode   container mc-<svc>-broker on the service's network (the function reaches it by name), its
              JetStream store on volume mc-<svc>-broker-data, its client port published on `publish_host`
              (a port the engine picked once, then pinned, so producers and MinIO keep one address)
swarm mode    a three-node JetStream cluster: services mc-<svc>-broker-1..3 (one task each, volumes
              mc-<svc>-broker-<n>-data, routes between them by service name), streams replicated three
              ways, so losing one broker task loses no message; each publishes its client port in host mode

Credentials: one generated password per user (admin, runtime, producer, and the cluster's routes), kept in
the root-owned volume mc-<svc>-broker-secrets on the engine (the lock and the deployment's other records
live there too: any checkout that talks to the engine finds them), written and read through a created,
never started helper container. Single mode: the broker's configuration (it holds the passwords) is in
that volume, which the broker container mounts. Swarm mode: the passwords are copied once into a
generation of Swarm secrets (`auth.conf`, which defines them as variables and holds the cluster's routes,
and the runtime's and producer's passwords, which the function service mounts as they are); the nodes'
configuration is a Swarm secret of its own that `include`s `auth.conf` and holds no password, so its name
is the hash of its text and the planner compares names and labels without reading a secret value. The
runtime's password reaches the function through its secrets mount. Nothing lands in an image, a label, a
log or the state file.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
import time
from collections.abc import Callable
from io import BytesIO
from typing import Any

from multicloud.broker.admin import BrokerAdmin
from multicloud.broker.config import AUTH_FILE, CLIENT_PORT, Cluster, new_passwords, render, render_auth
from multicloud.broker.topology import Topology
from multicloud.errors import OperationError
from multicloud.private_runtime import BrokerAccess
from multicloud.project import Project
from multicloud.provider import Progress

from . import engine as eng
from . import hardening
from .context import SECRETS_DIR
from .settings import DockerSettings

CONFIG_DIR = "/run/multicloud/broker"
CONFIG_FILE = "nats.conf"
PASSWORDS_FILE = "passwords.json"
DATA_DIR = "/data"
STORE = "store"
RUNTIME_PASSWORD = "broker-password"  # the file in the function's secrets mount
PRODUCER_PASSWORD = "broker-producer-password"  # the HTTP intake's producer user (runtime/intake.py)
SWARM_NODES = 3
CONFIG_LABEL = "io.multicloud.broker-config"
AUTH_LABEL = "io.multicloud.broker-auth"  # swarm: the generation of the password secrets


def container_name(service: str) -> str:
    return f"mc-{service}-broker"


def node_name(service: str, index: int) -> str:
    return f"mc-{service}-broker-{index}"


def access(project: Project, settings: DockerSettings) -> BrokerAccess:
    """How the function reaches its broker (from runtime.json, inside the service's network)."""
    service = project.name
    hosts = [container_name(service)] if settings.mode == "single" else [
        node_name(service, i) for i in range(1, SWARM_NODES + 1)]
    return BrokerAccess(tuple(f"nats://{h}:{CLIENT_PORT}" for h in hosts), f"file:{SECRETS_DIR}/{RUNTIME_PASSWORD}",
                        f"file:{SECRETS_DIR}/{PRODUCER_PASSWORD}")


def mounted_passwords(passwords: dict[str, str]) -> dict[str, str]:
    """{file in the function's secrets mount: password}: the runtime user's, and the producer's for the
    HTTP intake (mounted whether or not the runtime holds a key: it only uses it when it does)."""
    return {RUNTIME_PASSWORD: passwords["runtime"], PRODUCER_PASSWORD: passwords["producer"]}


class Credentials:
    """The broker's secrets volume, through helper containers (works on a remote engine too)."""

    def __init__(self, client: Any, project: Project, settings: DockerSettings) -> None:
        self.client = client
        self.project = project
        self.settings = settings
        self.volume = f"mc-{project.name}-broker-secrets"
        self._passwords: dict[str, str] | None = None  # read once per deploy or command

    def _helper(self, volumes: dict[str, str]) -> Any:
        self.ensure_volume(self.volume, "broker-secrets")
        return self.client.containers.create(
            self.settings.broker_image, command=["--version"], user="0:0", network_disabled=True,
            labels=eng.labels_for(self.project.name, "secrets-helper", self.settings.labels),
            volumes={name: {"bind": path, "mode": "rw"} for name, path in volumes.items()})

    def ensure_volume(self, name: str, role: str) -> bool:
        """True when the volume was created now."""
        from docker.errors import NotFound

        try:
            self.client.volumes.get(name)
            return False
        except NotFound:
            self.client.volumes.create(name, labels=eng.labels_for(self.project.name, role, self.settings.labels))
            return True

    @staticmethod
    def _get(helper: Any, name: str) -> bytes | None:
        """A file of the volume through a helper container, None when it is not there."""
        from docker.errors import NotFound

        try:
            stream, _ = helper.get_archive(f"/secrets/{name}")
        except NotFound:
            return None
        with tarfile.open(fileobj=BytesIO(b"".join(stream))) as tar:
            member = tar.extractfile(name)
            return member.read() if member is not None else None

    def _put(self, helper: Any, files: dict[str, bytes]) -> None:
        """Root-owned files readable by the broker's group only (0440): the broker runs as that group."""
        _, gid = hardening.uid_gid(self.settings)
        helper.put_archive("/secrets", eng.tar_of(files, mode=0o440, gid=int(gid)))

    def read(self, name: str) -> bytes | None:
        helper = self._helper({self.volume: "/secrets"})
        try:
            return self._get(helper, name)
        finally:
            helper.remove(force=True)

    def write(self, files: dict[str, bytes]) -> None:
        helper = self._helper({self.volume: "/secrets"})
        try:
            self._put(helper, files)
        finally:
            helper.remove(force=True)

    def configure(self, render_config: Callable[[dict[str, str]], str], passwords: dict[str, str] | None,
                  create: bool) -> dict[str, str]:
        """Write the broker's configuration (and, new, its passwords) through one helper container: the
        passwords given, else read from the volume, else (a fresh volume) generated now. Returns them."""
        if create:
            self.client.volumes.create(self.volume, labels=eng.labels_for(self.project.name, "broker-secrets",
                                                                           self.settings.labels))
        helper = self._helper({self.volume: "/secrets"})
        try:
            files: dict[str, bytes] = {}
            if passwords is None:
                raw = self._get(helper, PASSWORDS_FILE)
                passwords = json.loads(raw) if raw is not None else None
            if passwords is None:
                passwords = new_passwords()
                files[PASSWORDS_FILE] = json.dumps(passwords).encode()
            files[CONFIG_FILE] = render_config(passwords).encode()
            self._put(helper, files)
        finally:
            helper.remove(force=True)
        self._passwords = dict(passwords)
        return dict(passwords)

    def kept_or_new(self) -> dict[str, str]:
        """The passwords in the volume (generated now when it holds none), written back through the same
        helper container: always the same engine writes, whatever the volume held."""
        helper = self._helper({self.volume: "/secrets"})
        try:
            raw = self._get(helper, PASSWORDS_FILE)
            passwords = json.loads(raw) if raw is not None else new_passwords()
            self._put(helper, {PASSWORDS_FILE: json.dumps(passwords).encode()})
        finally:
            helper.remove(force=True)
        self._passwords = dict(passwords)
        return dict(passwords)

    def passwords(self) -> dict[str, str]:
        """The service's broker passwords, generated on first use and kept on the engine."""
        if self._passwords is None:
            raw = self.read(PASSWORDS_FILE)
            if raw is not None:
                self._passwords = json.loads(raw)
            else:
                self._passwords = new_passwords()
                self.write({PASSWORDS_FILE: json.dumps(self._passwords).encode()})
        return dict(self._passwords or {})

    def init_store(self, volume: str, role: str) -> None:
        """A JetStream store directory owned by the broker's user inside a fresh data volume (an image
        without /data, such as the official one, would leave the volume's root to root)."""
        if not self.ensure_volume(volume, role):
            return
        uid, gid = hardening.uid_gid(self.settings)
        buf = BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            entry = tarfile.TarInfo(STORE)
            entry.type, entry.mode, entry.uid, entry.gid = tarfile.DIRTYPE, 0o700, int(uid), int(gid)
            tar.addfile(entry)
        helper = self._helper({volume: DATA_DIR})
        try:
            helper.put_archive(DATA_DIR, buf.getvalue())
        finally:
            helper.remove(force=True)


class Broker:
    """What both modes share: the image, the credentials, the admin connection."""

    def __init__(self, client: Any, project: Project, settings: DockerSettings, topology: Topology,
                 progress: Progress) -> None:
        self.client = client
        self.project = project
        self.settings = settings
        self.topology = topology
        self.progress = progress
        self.service = project.name
        self.creds = Credentials(client, project, settings)

    def admin_for(self, ports: list[int]) -> BrokerAdmin:
        host = eng.public_host(self.settings.publish_host)
        passwords = self.creds.passwords()
        return BrokerAdmin([f"nats://{host}:{p}" for p in ports], passwords["admin"],
                           where=f"broker of {self.service} on the engine")

    def run_config(self) -> str:
        """What the broker's container is made of: a change recreates it (its store stays)."""
        image_id = self.client.images.get(self.settings.broker_image).id
        data = [image_id, self.settings.publish_host, self.settings.user, self.settings.labels, self.settings.mode]
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


class SingleBroker(Broker):
    @property
    def name(self) -> str:
        return container_name(self.service)

    def container(self) -> Any | None:
        from docker.errors import NotFound

        try:
            return self.client.containers.get(self.name)
        except NotFound:
            return None

    def port(self, container: Any) -> int | None:
        container.reload()
        bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get(f"{CLIENT_PORT}/tcp") or []
        if bindings:
            return int(bindings[0]["HostPort"])
        wanted = (container.attrs["HostConfig"].get("PortBindings") or {}).get(f"{CLIENT_PORT}/tcp") or []
        return int(wanted[0]["HostPort"]) if wanted and wanted[0].get("HostPort") else None

    def render(self, passwords: dict[str, str]) -> str:
        return render(self.topology, passwords, listen=f"0.0.0.0:{CLIENT_PORT}", store_dir=f"{DATA_DIR}/{STORE}",
                      server_name=self.name)

    def run(self, network: str, port: int | None) -> Any:
        """The broker container, on `port` (None: one the engine picks, then pinned: a picked port would
        change on every restart)."""
        data_volume, config = f"{self.name}-data", self.run_config()
        container = self._run(network, data_volume, config, port)
        if port is None:
            port = self.port(container)
            container.remove(force=True)
            container = self._run(network, data_volume, config, port)
        return container

    def _run(self, network: str, data_volume: str, config: str, port: int | None) -> Any:
        from docker.types import Mount

        labels = eng.labels_for(self.service, "broker", self.settings.labels)
        labels[CONFIG_LABEL] = config
        opts = hardening.common(self.settings)  # non-root, read-only, no capabilities, init
        opts["restart_policy"] = {"Name": "on-failure", "MaximumRetryCount": 0}  # always back after a crash
        return self.client.containers.run(
            self.settings.broker_image, ["-c", f"{CONFIG_DIR}/{CONFIG_FILE}"], name=self.name, hostname=self.name,
            detach=True, labels=labels, network=network,
            ports={f"{CLIENT_PORT}/tcp": (self.settings.publish_host, port)},
            mounts=[Mount(target=CONFIG_DIR, source=self.creds.volume, type="volume", read_only=True),
                    Mount(target=DATA_DIR, source=data_volume, type="volume")],
            mem_limit="256m", memswap_limit="256m", pids_limit=256, stop_signal="SIGTERM", **opts)

    def admin(self) -> BrokerAdmin:
        container = self.container()
        port = self.port(container) if container is not None and container.status == "running" else None
        if port is None:
            raise OperationError(f"the broker of {self.service} is not running on this engine",
                                 fix="run `multicloud deploy --target docker`", where=self.name)
        return self.admin_for([port])


class SwarmBroker(Broker):
    def names(self) -> list[str]:
        return [node_name(self.service, i) for i in range(1, SWARM_NODES + 1)]

    def services(self) -> dict[str, Any]:
        found = {s.name: s for s in self.client.services.list(filters={"label": f"{eng.SERVICE}={self.service}"})}
        return {n: found[n] for n in self.names() if n in found}

    @staticmethod
    def published(svc: Any) -> int | None:
        ports = (svc.attrs.get("Endpoint", {}).get("Ports") or svc.attrs["Spec"].get("EndpointSpec", {})
                 .get("Ports") or [])
        return int(ports[0]["PublishedPort"]) if ports and ports[0].get("PublishedPort") else None

    # ---- what the planner compares (from reads only: no secret value is needed) -------------------------
    def cluster(self) -> Cluster:
        return Cluster(f"mc-{self.service}", tuple(self.names()))

    def config_text(self) -> str:
        """The nodes' shared configuration: permissions, store, listen address, and `include` of the passwords
        file (a Swarm secret of its own): it holds no secret, so its name can carry its hash."""
        return render(self.topology, None, listen=f"0.0.0.0:{CLIENT_PORT}", store_dir=f"{DATA_DIR}/{STORE}",
                      cluster=self.cluster(), include=AUTH_FILE)

    def config_name(self) -> str:
        return f"mc-{self.service}-broker-conf-{hashlib.sha256(self.config_text().encode()).hexdigest()[:12]}"

    def auth_names(self, generation: str) -> dict[str, str]:
        """{file: Swarm secret name} of one generation of the passwords: the included file the nodes mount,
        and the runtime's and producer's passwords the function service mounts."""
        return {AUTH_FILE: f"mc-{self.service}-broker-auth-{generation}",
                RUNTIME_PASSWORD: f"mc-{self.service}-broker-runtime-{generation}",
                PRODUCER_PASSWORD: f"mc-{self.service}-broker-producer-{generation}"}

    def node_config(self, run_config: str, generation: str) -> str:
        """The label of a node's service: its image and settings, its configuration, its passwords' generation."""
        return hashlib.sha256(f"{run_config}\n{self.config_name()}\n{generation}".encode()).hexdigest()[:16]

    # ---- writes (each planned as a step: apply.py) ------------------------------------------------------
    def create_auth(self, generation: str) -> dict[str, str]:
        """The passwords kept in the secrets volume (generated there the first time), copied into one
        generation of Swarm secrets (immutable: a new generation is a new set of names)."""
        passwords = self.creds.kept_or_new()
        data = {AUTH_FILE: render_auth(passwords, self.cluster()), **mounted_passwords(passwords)}
        labels = eng.labels_for(self.service, "broker-auth", self.settings.labels)
        labels[AUTH_LABEL] = generation
        for file_name, name in self.auth_names(generation).items():
            self.client.secrets.create(name=name, data=data[file_name].encode(), labels=labels)
        return passwords

    def create_config(self) -> None:
        self.client.secrets.create(name=self.config_name(), data=self.config_text().encode(),
                                   labels=eng.labels_for(self.service, "broker-config", self.settings.labels))

    def run_node(self, index: int, network: str, port: int | None, generation: str, config: str) -> None:
        """A node's service created, or updated in place (its store stays), on its port (a new node: a free
        one, then pinned in its spec)."""
        from .swarm import free_port

        name = self.names()[index - 1]
        ids = {s.name: s.id for s in self.client.secrets.list(filters=eng.owned(self.service))}
        refs = {CONFIG_FILE: self.config_name(), AUTH_FILE: self.auth_names(generation)[AUTH_FILE]}
        missing = sorted(n for n in refs.values() if n not in ids)
        if missing:
            raise OperationError(f"the Swarm secrets {', '.join(missing)} are gone", where=name,
                                 fix="plan and deploy again")
        secrets = {f: (ids[n], n) for f, n in refs.items()}
        current = self.services().get(name)
        spec = self._spec(name, network, f"{name}-data", secrets, port or free_port(), config, generation)
        if current is None:
            self.progress(f"creating the broker service {name} (JetStream node {index} of {SWARM_NODES})")
            self.client.api.create_service(**spec)
        else:
            self.progress(f"updating the broker service {name}")
            current.reload()
            self.client.api.update_service(current.id, current.version, **spec)

    def _spec(self, name: str, network: str, volume: str, secrets: dict[str, tuple[str, str]], port: int,
              config: str, generation: str) -> dict[str, Any]:
        from docker.types import (
            ContainerSpec,
            EndpointSpec,
            Mount,
            Resources,
            RestartPolicy,
            SecretReference,
            TaskTemplate,
            UpdateConfig,
        )

        uid, gid = hardening.uid_gid(self.settings)
        labels = eng.labels_for(self.service, "broker", self.settings.labels)
        labels[CONFIG_LABEL] = config
        labels[AUTH_LABEL] = generation
        container = ContainerSpec(
            image=self.settings.broker_image, args=["-c", f"{CONFIG_DIR}/{CONFIG_FILE}"], user=f"{uid}:{gid}",
            hostname=name, env={"MC_SERVER_NAME": name}, labels=labels, read_only=True, init=True,
            cap_drop=["ALL"], stop_signal="SIGTERM", stop_grace_period=30 * hardening.SECOND,
            mounts=[Mount(target=DATA_DIR, source=volume, type="volume",
                          labels=eng.labels_for(self.service, "broker-data", self.settings.labels))],
            secrets=[SecretReference(ident, secret, filename=f"{CONFIG_DIR}/{file_name}", uid="0", gid=gid,
                                     mode=0o440) for file_name, (ident, secret) in sorted(secrets.items())])
        resources = Resources(mem_limit=256 * 2**20)
        resources["Limits"]["Pids"] = 256
        template = TaskTemplate(container_spec=container, resources=resources,
                                restart_policy=RestartPolicy(condition="any", delay=hardening.SECOND),
                                networks=[network])
        return {"task_template": template, "name": name, "labels": labels,
                "mode": {"Replicated": {"Replicas": 1}},
                "update_config": UpdateConfig(parallelism=1, order="stop-first", delay=5 * hardening.SECOND),
                "endpoint_spec": EndpointSpec(mode="vip", ports=[{"Protocol": "tcp", "TargetPort": CLIENT_PORT,
                                                                   "PublishedPort": port, "PublishMode": "host"}])}

    def wait_running(self, timeout: float = 120) -> None:
        """Every node runs a task made from its service's current spec (not a task on its way out)."""
        deadline = time.monotonic() + timeout
        while True:
            running = []
            for name, svc in self.services().items():
                config = (svc.attrs["Spec"].get("Labels") or {}).get(CONFIG_LABEL)
                if any(t["Status"]["State"] == "running"
                       and (t["Spec"]["ContainerSpec"].get("Labels") or {}).get(CONFIG_LABEL) == config
                       for t in svc.tasks(filters={"desired-state": "running"})):
                    running.append(name)
            if len(running) == SWARM_NODES:
                return
            if time.monotonic() > deadline:
                raise OperationError(f"the broker cluster did not start: {len(running)} of {SWARM_NODES} nodes run",
                                     fix=f"see `docker service ps {self.names()[0]} --no-trunc`",
                                     where=self.names()[0])
            time.sleep(0.5)

    def declare(self, passwords: dict[str, str], progress: Progress) -> BrokerAdmin:
        """Streams and consumers declared over NATS (replicated on the three nodes) once the cluster answers."""
        self.wait_running()
        self.creds._passwords = dict(passwords)
        ports = [p for s in self.services().values() if (p := self.published(s)) is not None]
        admin = self.admin_for(ports)
        admin.wait_ready(120)
        admin.ensure(self.topology, SWARM_NODES, progress)
        return admin

    def admin(self) -> BrokerAdmin:
        ports = [p for s in self.services().values() if (p := self.published(s)) is not None]
        if not ports:
            raise OperationError(f"the broker of {self.service} is not running on this swarm",
                                 fix="run `multicloud deploy --target docker`", where=self.names()[0])
        return self.admin_for(ports)

    def remove(self) -> list[str]:
        removed = []
        for name, svc in self.services().items():
            svc.remove()
            removed.append(name)
        return removed
