"""Single-engine mode: blue/green behind a stable gateway (HAProxy, see proxy.py).

    deploy = start the new container on the free slot -> wait until healthy -> switch the gateway's slots
             -> wait until the old slot holds no request -> stop the old container

The gateway container owns the published host:port for the life of the deployment, so the endpoint never
changes; a new version is reachable only after its health check passes. A version that fails its health
check is removed and the old one keeps serving (OperationError, exit 1). Containers are found by labels
on the engine, never by guessing: the engine is the source of truth, the state file only a cache.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from multicloud.broker.topology import topology
from multicloud.errors import OperationError
from multicloud.private_runtime import warn_short_secrets
from multicloud.project import Project
from multicloud.provider import FunctionStatus, LogRecord, Progress, StatusReport

from . import engine as eng
from . import hardening, proxy
from .broker import SingleBroker, mounted_passwords
from .broker_image import ensure_broker_image
from .context import secret_files
from .refs import resolve_host_ref
from .settings import DockerSettings


@dataclass(frozen=True)
class Names:
    service: str

    @property
    def network(self) -> str:
        return f"mc-{self.service}"

    @property
    def gateway(self) -> str:
        return f"mc-{self.service}-gateway"

    def function(self, digest: str) -> str:
        return f"mc-{self.service}-{digest[:12]}-{secrets.token_hex(2)}"


class Single:
    def __init__(self, client: Any, project: Project, settings: DockerSettings, progress: Progress) -> None:
        self.client = client
        self.project = project
        self.settings = settings
        self.progress = progress
        self.names = Names(project.name)
        self._admin: Any = None  # the broker's admin once deploy ensured it (prunes consumers after)

    # ---- discovery -------------------------------------------------------------------------------
    def function_containers(self) -> list[Any]:
        return list(self.client.containers.list(all=True, ignore_removed=True,
                                                filters=eng.owned(self.project.name, "function")))

    def gateway(self) -> Any | None:
        found = self.client.containers.list(all=True, ignore_removed=True,
                                            filters=eng.owned(self.project.name, "gateway"))
        return found[0] if found else None

    @property
    def admin_user(self) -> str:
        return str(hardening.common(self.settings)["user"])

    def live(self) -> Any | None:
        """The function container the gateway sends new requests to; None while no running gateway routes
        to one (a deploy in progress is not live until its switch: a caller must not find it earlier)."""
        gateway = self.gateway()
        if gateway is None or gateway.status != "running":
            return None
        try:
            slots = proxy.ready_slots(gateway, self.admin_user)
        except OperationError:
            return None
        return next((c for c in self._newest_first() if c.labels.get(proxy.SLOT_LABEL) in slots), None)

    def current(self) -> Any | None:
        """What a deploy replaces: the live container, else (no gateway to ask) the newest running one."""
        return self.live() or next((c for c in self._newest_first() if c.status == "running"), None)

    def _newest_first(self) -> list[Any]:
        return sorted(self.function_containers(), key=lambda c: str(c.attrs.get("Created", "")), reverse=True)

    def previous(self) -> dict[str, str] | None:
        """The release before the live one, as the engine records it (label on the live container)."""
        live = self.current()
        return eng.parse_release(live.labels.get(eng.PREVIOUS)) if live is not None else None

    def gateway_image(self) -> str | None:
        gateway = self.gateway()
        return str(gateway.attrs["Config"]["Image"]) if gateway is not None else None

    def endpoint(self, gateway: Any) -> tuple[str, int]:
        gateway.reload()
        port = proxy.gateway_port(gateway)
        if port is None:
            raise OperationError("the gateway has no published port", fix="run `multicloud remove` then deploy",
                                 where=gateway.name)
        return eng.public_host(self.settings.publish_host), port

    # ---- deploy ----------------------------------------------------------------------------------
    def deploy(self, image: str, digest: str, gateway_image: str) -> tuple[bool, str, int]:
        """Returns (changed, host, port)."""
        values = self.resolve_secrets()  # before anything changes: a missing secret leaves all as it was
        warn_short_secrets(values, self.progress)
        broker_files = self.ensure_broker()  # before the new version starts: it connects at start
        live = self.current()
        gateway = self.gateway()
        config = hardening.run_config(self.project, self.settings)
        rotated = live is not None and not eng.same_secrets(live.labels, values)
        if (live is not None and gateway is not None and live.labels.get(eng.DIGEST) == digest
                and self.live() is not None
                and live.labels.get(eng.RUN_CONFIG) == config and not rotated
                and live.status == "running" and gateway.status == "running"
                and gateway.labels.get("io.multicloud.gateway-config") == self.gateway_config(gateway_image)):
            self.progress(f"{image} is already live: nothing to do")
            host, port = self.endpoint(gateway)
            return False, host, port
        if rotated and live is not None and live.labels.get(eng.DIGEST) == digest:
            self.progress("secret values changed: starting the same image with the new values (blue/green)")
        self.check_port(gateway)  # before anything starts: a taken port fails now, naming it
        self.ensure_network()
        name = self.names.function(digest)
        # the broker's passwords are mounted with the others (generated once, so never "rotated")
        mounted = {**values, **broker_files}
        volume = self.secrets_volume(name, image, mounted) if mounted else None
        old_slot = live.labels.get(proxy.SLOT_LABEL) if live is not None else None
        slot = next(s for s in proxy.SLOTS if s != old_slot)
        labels = eng.labels_for(self.project.name, "function", self.settings.labels, digest=digest)
        labels[eng.RUN_CONFIG] = config
        labels[eng.SECRETS] = eng.secrets_fingerprint(values)
        labels[proxy.SLOT_LABEL] = slot
        previous = eng.previous_release(live.labels if live is not None else {},
                                        live.attrs["Config"]["Image"] if live is not None else None, digest)
        if previous:
            labels[eng.PREVIOUS] = previous
        # a leftover on the free slot (a deploy killed half-way) would share its DNS alias: it goes first
        for c in self.function_containers():
            if c.labels.get(proxy.SLOT_LABEL) == slot and (live is None or c.id != live.id):
                self.discard(c, self.volume_of(c))
        opts = hardening.function_options(self.project, self.settings, image=image, name=name,
                                          network=self.names.network, labels=labels, secrets_volume=volume,
                                          aliases=[proxy.alias(self.project.name, slot)])
        self.progress(f"starting {name} on slot {slot}")
        container = self.client.containers.run(**opts)
        try:
            self.wait_healthy(container)
        except OperationError:
            self.discard(container, volume)
            raise
        try:
            gateway = self.ensure_gateway(gateway, gateway_image)
            self.switch(gateway, slot, container)
        except Exception:
            self.discard(container, volume)  # nothing half-deployed: the old version (if any) keeps serving
            raise
        old = [c for c in self.function_containers() if c.id != container.id]
        if old:
            drain = hardening.max_timeout(self.project) + 2
            if not proxy.drain(gateway, self.admin_user, next(s for s in proxy.SLOTS if s != slot), drain):
                self.progress(f"requests still running on the old version after {drain} s: stopping it anyway")
        for c in old:
            self.progress(f"stopping {c.name}")
            self.discard(c, self.volume_of(c), timeout=hardening.max_timeout(self.project) + 2)
        if self._admin is not None:
            self._admin.prune(topology(self.project, "docker"), self.progress)  # consumers no function reads now
        host, port = self.endpoint(gateway)
        return True, host, port

    # ---- broker (queue, stream and storage triggers) -----------------------------------------------
    def broker(self) -> SingleBroker:
        return SingleBroker(self.client, self.project, self.settings, topology(self.project, "docker"),
                            self.progress)

    def ensure_broker(self) -> dict[str, str]:
        """Run the service's broker and declare its streams (when a function reads events); the broker
        passwords for the function's secrets mount (none without a broker)."""
        broker = self.broker()
        if broker.topology.empty:
            return {}
        ensure_broker_image(self.client, self.settings.broker_image, self.progress)  # before anything is created
        self.ensure_network()
        admin = broker.ensure(self.names.network)
        self._admin = admin  # pruned with it once the new version serves
        return mounted_passwords(broker.creds.passwords())

    def check_port(self, gateway: Any | None) -> None:
        """A fixed `port:` that another program holds on this host fails at once (the engine would only
        refuse it when the gateway starts, after the new version's health check). Local engines only: a
        remote engine's ports cannot be probed from here."""
        port = self.settings.port
        if port is None or not eng.local_engine():
            return
        if gateway is not None and gateway.status == "running" and self.endpoint(gateway)[1] == port:
            return  # ours
        from multicloud.ports import port_taken

        if port_taken(self.settings.publish_host, port):
            raise OperationError(
                f"port {port} on {self.settings.publish_host} is held by another program",
                fix=f"stop that program (`ss -ltnp 'sport = :{port}'` names it), or choose another "
                    "targets.docker.port (or remove it: a free port is picked)",
                where="targets.docker.port")

    def gateway_config(self, gateway_image: str) -> str:
        return json.dumps([gateway_image, self.settings.publish_host, self.settings.port, self.settings.cpus],
                          sort_keys=True)

    def ensure_gateway(self, gateway: Any | None, gateway_image: str) -> Any:
        """The running gateway, created (or recreated on the same port when its configuration changed)."""
        config = self.gateway_config(gateway_image)
        port = self.settings.port
        if gateway is not None and gateway.labels.get("io.multicloud.gateway-config") != config:
            if port is None and gateway.status == "running":
                port = self.endpoint(gateway)[1]
            self.progress("recreating the gateway (its configuration changed)")
            gateway.remove(force=True)
            gateway = None
        if gateway is None:
            labels = eng.labels_for(self.project.name, "gateway", self.settings.labels)
            labels["io.multicloud.gateway-config"] = config
            if port is None:
                port = self.free_engine_port(gateway_image)
            opts = hardening.gateway_options(self.settings, image=gateway_image, name=self.names.gateway,
                                             network=self.names.network, labels=labels, port=port,
                                             host_network=proxy.image_network(self.client, gateway_image) == "host")
            self.progress(f"starting the gateway {self.names.gateway} on port {port}")
            gateway = self.client.containers.run(**opts)
        elif gateway.status != "running":
            gateway.start()
        return gateway

    def free_engine_port(self, image: str) -> int:
        """A port the engine picks for `publish_host`, found with a short-lived probe container.

        A port the engine picks for the gateway itself would be picked again on every restart of the
        container (kill -9, OOM): so the gateway always starts with a fixed port, and the probe (a
        container no one looks for: its role is not `gateway`) is what lets the engine choose it, also on
        a remote engine. Nothing ever listens on the probe."""
        probe = self.client.containers.create(
            image, name=f"{self.names.gateway}-port-probe", command=["sleep", "60"],
            entrypoint=[], ports={f"{eng.INTERNAL_PORT}/tcp": (self.settings.publish_host, None)},
            labels=eng.labels_for(self.project.name, "port-probe", self.settings.labels))
        try:
            probe.start()
            probe.reload()
            bindings = probe.attrs["NetworkSettings"]["Ports"].get(f"{eng.INTERNAL_PORT}/tcp") or []
            if not bindings:
                raise OperationError("the engine published no port for the gateway",
                                     fix="set targets.docker.port", where="targets.docker.port")
            return int(bindings[0]["HostPort"])
        finally:
            probe.remove(force=True)

    def switch(self, gateway: Any, slot: str, container: Any) -> None:
        """New requests go to `container` (on `slot`) once the gateway answers on its runtime API."""
        container.reload()
        address = container.attrs["NetworkSettings"]["Networks"][self.names.network]["IPAddress"]
        deadline = time.monotonic() + 20
        while True:  # the runtime API answers a moment after the gateway starts
            try:
                proxy.switch(gateway, self.admin_user, slot, address)
                break
            except OperationError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
                gateway.reload()
        self.progress(f"gateway now routes to {container.name} (slot {slot})")

    def wait_healthy(self, container: Any) -> None:
        deadline = time.monotonic() + self.settings.health_timeout
        while True:
            container.reload()
            state = container.attrs["State"]
            health = (state.get("Health") or {}).get("Status")
            if health == "healthy":
                return
            if state["Status"] == "running" and not state.get("Restarting"):
                # Probe now rather than wait for the engine's next check (every 5 s in steady state):
                # the same command as the HEALTHCHECK, run inside the container.
                code, _ = container.exec_run(hardening.HEALTH_CMD[1:], user=hardening.common(self.settings)["user"])
                if code == 0:
                    return
            failed = None
            if state["Status"] in ("exited", "dead") or state.get("Restarting") or container.attrs.get(
                    "RestartCount", 0) > 0:
                restarts = container.attrs.get("RestartCount", 0)
                failed = f"it crashed (exit code {state.get('ExitCode')}, restarted {restarts} time(s))"
            elif health == "unhealthy":
                failed = "its health check failed"
            elif time.monotonic() > deadline:
                failed = f"it was not healthy after {self.settings.health_timeout} s"
            if failed:
                tail = container.logs(tail=15).decode(errors="replace").strip()
                raise OperationError(
                    f"the new version {container.name} did not become healthy: {failed}; the previous version "
                    f"keeps serving. Last log lines:\n{tail}",
                    fix="fix the error above (handler import, secret reference, port) and deploy again",
                    where=container.name,
                )
            time.sleep(0.25)

    # ---- secrets ---------------------------------------------------------------------------------
    def resolve_secrets(self) -> dict[str, str]:
        refs, _ = secret_files(self.project, self.settings)
        return {name: resolve_host_ref(ref, name) for name, ref in refs.items()}

    def secrets_changed(self) -> bool:
        """For `plan`: the live release runs with other secret values than the deploying host has now."""
        live = self.live()
        try:
            return live is not None and not eng.same_secrets(live.labels, self.resolve_secrets())
        except OperationError:
            return False  # a reference that does not resolve here: deploy will say so

    def secrets_volume(self, name: str, image: str, values: dict[str, str]) -> str:
        """A per-container volume holding one root-owned, group-readable file per secret.

        Filled through a created-never-started helper container (works on remote engines too); the
        function mounts it read-only. Values never touch the image, env, labels or the state file.
        """
        volume = f"{name}-secrets"
        self.ensure_volume(volume, "secrets")
        _, gid = hardening.uid_gid(self.settings)
        archive = eng.tar_of({file_name: value.encode() for file_name, value in values.items()},
                             mode=0o440, gid=int(gid))
        helper = self.client.containers.create(
            image, command=["true"], network_disabled=True, user="0:0",
            labels=eng.labels_for(self.project.name, "secrets-helper", self.settings.labels),
            volumes={volume: {"bind": "/secrets", "mode": "rw"}})
        try:
            helper.put_archive("/secrets", archive)
        finally:
            helper.remove(force=True)
        return volume

    def ensure_volume(self, name: str, role: str) -> None:
        from docker.errors import NotFound

        try:
            self.client.volumes.get(name)
        except NotFound:
            self.client.volumes.create(name, labels=eng.labels_for(self.project.name, role, self.settings.labels))

    def volume_of(self, container: Any) -> str | None:
        for mount in container.attrs.get("Mounts", []):
            if mount.get("Type") == "volume" and str(mount.get("Name", "")).endswith("-secrets") \
                    and mount.get("Name") != self.broker().creds.volume:
                return str(mount["Name"])
        return None

    def discard(self, container: Any, volume: str | None, timeout: int = 10) -> None:
        from docker.errors import NotFound

        try:
            container.stop(timeout=timeout)
            container.remove(force=True)
        except NotFound:
            pass
        if volume:
            try:
                self.client.volumes.get(volume).remove(force=True)
            except NotFound:
                pass

    def ensure_network(self) -> None:
        if not self.client.networks.list(names=[self.names.network]):
            self.client.networks.create(self.names.network, driver="bridge", check_duplicate=True,
                                        labels=eng.labels_for(self.project.name, "network", self.settings.labels))

    # ---- remove ----------------------------------------------------------------------------------
    def remove(self) -> list[str]:
        from docker.errors import NotFound

        removed: list[str] = []
        gateway = self.gateway()
        if gateway is not None:
            gateway.remove(force=True)
            removed.append(gateway.name)
        for c in self.client.containers.list(all=True, ignore_removed=True, filters=eng.owned(self.project.name)):
            c.remove(force=True)
            removed.append(c.name)
        for v in self.client.volumes.list(filters=eng.owned(self.project.name)):
            try:
                v.remove(force=True)
                removed.append(v.name)
            except NotFound:
                pass
        for n in self.client.networks.list(filters=eng.owned(self.project.name)):
            n.remove()
            removed.append(n.name)
        return removed

    # ---- read back -------------------------------------------------------------------------------
    def deployed_digest(self) -> str | None:
        live = self.live()
        return live.labels.get(eng.DIGEST) if live is not None else None

    def settings_changed(self) -> bool:
        live = self.live()
        return live is not None and live.labels.get(eng.RUN_CONFIG) != hardening.run_config(
            self.project, self.settings)

    def url(self) -> str:
        gateway = self.gateway()
        if gateway is None or gateway.status != "running":
            raise OperationError(f"{self.project.name} is not deployed on this engine (no running gateway)",
                                 fix="run `multicloud deploy --target docker`", where="docker")
        host, port = self.endpoint(gateway)
        return f"http://{host}:{port}"

    def logs(self, function: str | None, since: datetime | None, follow: bool) -> Iterator[LogRecord]:
        live = self.live()
        if live is None:
            return
        yield from container_logs(live, function, since, follow)

    def status(self) -> StatusReport:
        gateway = self.gateway()
        live = self.live()
        if gateway is None and live is None:
            return StatusReport("docker", deployed=False)
        url = None
        details: dict[str, str] = {"mode": "single"}
        if gateway is not None:
            details["gateway"] = gateway.status
            if gateway.status == "running":
                host, port = self.endpoint(gateway)
                url = f"http://{host}:{port}"
                details["url"] = url
        broker = self.broker()
        if not broker.topology.empty:
            container = broker.container()
            broker_port = broker.port(container) if container is not None else None
            details["broker"] = (f"{container.name} {container.status}, restarted "
                                 f"{container.attrs.get('RestartCount', 0)} time(s), nats://"
                                 f"{eng.public_host(self.settings.publish_host)}:{broker_port}"
                                 if container is not None else "missing")
        gateway_down = None
        if gateway is None or gateway.status != "running":
            gateway_down = f"the gateway is {gateway.status if gateway is not None else 'gone'}; deploy again"
        if live is None:
            detail = ("the gateway is not running" if gateway_down else "the gateway routes to no container")
            fs = tuple(FunctionStatus(fn.name, "missing", detail=detail) for fn in self.project.functions_for("docker"))
            return StatusReport("docker", deployed=True, functions=fs, details=details, down=gateway_down or
                                "no function container serves (removed outside multicloud?); deploy again")
        state, detail, counts = container_health(self.client, live)
        down = gateway_down
        if down is None and state not in ("running", "starting"):
            down = f"the function container {live.name} is {state}"
        details.update(counts)
        details["container"] = live.name
        fs = tuple(
            FunctionStatus(fn.name, state, version=(live.labels.get(eng.DIGEST) or "")[:12] or None,
                           endpoint=(url + fn.triggers_of("http")[0].http.path)  # type: ignore[union-attr]
                           if url and fn.triggers_of("http") else url,
                           detail=detail)
            for fn in self.project.functions_for("docker"))
        return StatusReport("docker", deployed=True, functions=fs, details=details, down=down)


def container_health(client: Any, container: Any) -> tuple[str, str, dict[str, str]]:
    """(state, human detail, counters) of one container, OOM kills included (from the engine's events)."""
    container.reload()
    st = container.attrs["State"]
    restarts = int(container.attrs.get("RestartCount", 0))
    since = parse_time(container.attrs["Created"])
    ooms = sum(1 for _ in client.events(since=int(since.timestamp()), until=int(time.time()) + 1,
                                        filters={"container": container.id, "event": "oom"}, decode=True))
    health = (st.get("Health") or {}).get("Status", "none")
    if health == "starting" and st["Status"] == "running":
        # The engine has not probed yet (every 5 s): probe now with the same command.
        code, _ = container.exec_run(hardening.HEALTH_CMD[1:], user=container.attrs["Config"]["User"] or None)
        health = "healthy" if code == 0 else "starting"
    if st["Status"] == "running":
        state = "running" if health in ("healthy", "none") else health
    elif st.get("OOMKilled"):
        state = "oom-killed"
    else:
        state = st["Status"]
    parts = [f"container {st['Status']}, health {health}", f"restarted {restarts} time(s)"]
    ooms = max(ooms, int(bool(st.get("OOMKilled"))))
    if ooms:
        limit = container.attrs["HostConfig"]["Memory"] // 2**20
        parts.append(f"OOM-killed {ooms} time(s) (memory limit {limit} MB)")
    if st.get("ExitCode"):
        parts.append(f"last exit code {st['ExitCode']}")
    return state, "; ".join(parts), {"restarts": str(restarts), "oom_kills": str(ooms)}


def parse_time(value: str) -> datetime:
    # Docker gives nanoseconds: 2026-11-22T14:12:48.123456789Z
    head, _, frac = value.rstrip("Z").partition(".")
    return datetime.fromisoformat(head + "." + (frac + "000000")[:6] + "+00:00")


def container_logs(container: Any, function: str | None, since: datetime | None,
                   follow: bool) -> Iterator[LogRecord]:
    kwargs: dict[str, Any] = {"timestamps": True, "stream": True, "follow": follow}
    if since is not None:
        kwargs["since"] = since
    buf = b""
    for chunk in container.logs(**kwargs):
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            record = log_record(line.decode(errors="replace"), function)
            if record is not None:
                yield record


def log_record(line: str, function: str | None) -> LogRecord | None:
    stamp, _, message = line.partition(" ")
    try:
        when = parse_time(stamp)
    except ValueError:
        return None
    name = ""
    try:
        data = json.loads(message)
        if isinstance(data, dict):
            if data.get("path") == "/healthz":
                return None  # the engine's health probe, once a second: noise for a reader
            name = str(data.get("function", ""))
    except ValueError:
        pass
    if function is not None and name != function:
        return None
    return LogRecord(when, name or "-", message)
