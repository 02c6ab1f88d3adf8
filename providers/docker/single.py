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
from dataclasses import dataclass
from typing import Any

from multicloud.broker.topology import topology
from multicloud.errors import OperationError
from multicloud.project import Project
from multicloud.provider import Progress

from . import engine as eng
from . import hardening, proxy
from .broker import SingleBroker
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

    # ---- broker (queue, stream and storage triggers) -----------------------------------------------
    def broker(self) -> SingleBroker:
        return SingleBroker(self.client, self.project, self.settings, topology(self.project, "docker"),
                            self.progress)

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
