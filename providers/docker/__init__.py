"""The `docker` target: the private cloud on one Docker Engine (blue/green) or a Swarm (rolling updates).

build  -> a deterministic context (code + vendored runtime + runtime.json + host-installed deps and server
          packages) and an image tagged by its digest; the gateway image (HAProxy + this service's config)
deploy -> single: new container on the free slot, wait healthy, switch the gateway's slots over its
          runtime API, drain, stop the old (`single.py`, `proxy.py`)
          swarm: a service with rolling-update/rollback config behind a gateway service (`swarm.py`)
The Docker SDK is imported lazily inside hooks; the engine comes from `docker.from_env()` (DOCKER_HOST).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from multicloud.broker.hooks import BrokerEvents
from multicloud.errors import MulticloudError, OperationError
from multicloud.provider import (
    Artifact,
    BuildResult,
    Change,
    DeployResult,
    Endpoint,
    Invocation,
    InvokeRequest,
    InvokeResult,
    LockInfo,
    LogRecord,
    Plan,
    Progress,
    RemoveResult,
    StatusReport,
    Step,
)
from multicloud.state import clear_state, read_state, write_state

from .settings import DockerSettings

IMAGES_FILE = "docker-images.json"


class DockerProvider(BrokerEvents[DockerSettings]):
    name = "docker"
    settings_class = DockerSettings
    extra = "docker"
    sdk_free = frozenset({"check", "export"})  # even a build talks to the engine

    def client(self) -> Any:
        from .engine import client

        return client()

    def translate_error(self, exc: Exception) -> MulticloudError | None:
        from .errors import translate

        mapped: MulticloudError | None = translate(exc)
        return mapped

    def mode(self) -> Any:
        client = self.client()
        if self.settings.mode == "swarm":
            from .swarm import Swarm

            return Swarm(client, self.project, self.settings, lambda _m: None)
        from .single import Single

        return Single(client, self.project, self.settings, lambda _m: None)

    # ---- broker (queue, stream and storage triggers: broker.py) -------------------------------------
    def _broker_admin(self) -> Any:
        return self.mode().broker().admin()

    def _check(self) -> None:
        from multicloud.private_runtime import check_runtime_config

        super()._check()
        check_runtime_config(self.project, "docker")

    # ---- build -------------------------------------------------------------------------------------
    def _build(self, out_dir: Path, progress: Progress) -> BuildResult:
        from .context import build_function_image, build_gateway_image

        client = self.client()
        image = build_function_image(client, self.project, self.settings, out_dir, progress)
        gateway = build_gateway_image(client, self.project, self.settings, out_dir, progress)
        (out_dir / IMAGES_FILE).write_text(json.dumps(
            {"image": image.tag, "digest": image.digest, "gateway": gateway, "reused": image.reused},
            indent=2, sort_keys=True) + "\n")
        tar = out_dir / "context.tar"
        artifacts = tuple(
            Artifact(function=fn.name, path=tar, entry_point=image.tag, size=tar.stat().st_size,
                     sha256=image.digest)
            for fn in self.project.functions_for("docker")
        )
        return BuildResult(target="docker", out_dir=out_dir, artifacts=artifacts, digest=image.digest)

    def images(self, build: BuildResult) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((build.out_dir / IMAGES_FILE).read_text())
        return data

    # ---- plan / deploy -----------------------------------------------------------------------------
    def _plan(self, build: BuildResult | None, progress: Progress) -> Plan:
        """Single mode: real steps (deploy.py), executed by `_apply` through apply.py's table. Swarm mode
        still plans one informational step and deploys through `_deploy` (the compatibility path)."""
        if build is not None and self.settings.mode == "single":
            from .deploy import plan_single
            from .single import Single

            return plan_single(Single(self.client(), self.project, self.settings, progress), self.images(build),
                               progress)
        mode = self.mode()
        deployed = mode.deployed_digest()
        resource = f"{self.settings.mode} service {self.project.name}"
        if build is None:
            change = Change("noop" if deployed else "create", resource, "not built yet")
        elif deployed is None:
            change = Change("create", resource, f"image {build.digest[:12]}")
        elif deployed == build.digest and mode.settings_changed():
            change = Change("update", resource, "run-time settings changed (limits, user, replicas...)")
        elif deployed == build.digest and mode.secrets_changed():
            change = Change("update", resource, "secret values changed (rotated): same image, new values")
        elif deployed == build.digest:
            change = Change("noop", resource, f"image {build.digest[:12]} is live")
        else:
            change = Change("update", resource, f"{deployed[:12]} -> {build.digest[:12]} (blue/green)"
                            if self.settings.mode == "single" else f"{deployed[:12]} -> {build.digest[:12]} "
                            "(rolling update)")
        return Plan("docker", (Step.of(change.action, change.resource, change.detail),))

    def _apply(self, plan: Plan, build: BuildResult, progress: Progress) -> DeployResult:
        """Single mode: exactly the plan's steps (apply.py), then the state cache and the result."""
        if self.settings.mode != "single":
            return self._deploy(build, progress)  # swarm: not converted yet, the whole deploy in one go
        from .apply import Target, apply_steps
        from .single import Single

        mode = Single(self.client(), self.project, self.settings, progress)
        apply_steps(Target(mode, progress), plan.steps)
        images = self.images(build)
        gateway = mode.gateway()
        if gateway is None:
            raise OperationError("the gateway is gone after the deploy", fix="plan and deploy again", where="docker")
        host, port = mode.endpoint(gateway)
        url = f"http://{host}:{port}"
        previous = read_state(self.project, "docker")
        state = {"mode": "single", "url": url, "port": port,
                 "live": {"image": images["image"], "digest": images["digest"]}, "gateway_image": images["gateway"],
                 "record": plan.memo.get("record") or previous.get("record")}
        recorded = mode.previous()
        if recorded:
            state["previous"] = recorded
        elif previous.get("previous"):
            state["previous"] = previous["previous"]
        write_state(self.project, "docker", state)
        return DeployResult("docker", version=images["digest"][:12], changed=plan.has_changes,
                            endpoints=self.endpoints(url), details={"url": url, "image": images["image"]})

    def _deploy(self, build: BuildResult, progress: Progress) -> DeployResult:
        images = self.images(build)
        mode = self.mode()
        mode.progress = progress
        previous = read_state(self.project, "docker")
        changed, host, port = mode.deploy(images["image"], images["digest"], images["gateway"])
        url = f"http://{host}:{port}"
        state = {"mode": self.settings.mode, "url": url, "port": port,
                 "live": {"image": images["image"], "digest": images["digest"]},
                 "gateway_image": images["gateway"]}
        live_before = previous.get("live")
        recorded = mode.previous()  # what the engine records; the cache's guess only for older releases
        if recorded:
            state["previous"] = recorded
        elif changed and live_before and live_before.get("digest") != images["digest"]:
            state["previous"] = live_before
        elif previous.get("previous"):
            state["previous"] = previous["previous"]
        write_state(self.project, "docker", state)
        return DeployResult("docker", version=images["digest"][:12], changed=changed,
                            endpoints=self.endpoints(url), details={"url": url, "image": images["image"]})

    def _rollback(self, progress: Progress) -> DeployResult:
        """Back to the release the engine records as the live one's predecessor, so a rollback from any
        checkout (another CI runner) finds it; the local cache only serves deployments made before the
        engine recorded it."""
        state = read_state(self.project, "docker")
        mode = self.mode()
        mode.progress = progress
        prev = mode.previous() or state.get("previous")
        gateway_image = mode.gateway_image() or state.get("gateway_image")
        if not prev or not gateway_image:
            raise OperationError("no previous version is recorded for this service",
                                 fix="deploy at least twice before rolling back", where="docker")
        changed, host, port = mode.deploy(prev["image"], prev["digest"], gateway_image)
        url = f"http://{host}:{port}"
        write_state(self.project, "docker", {**state, "live": prev, "previous": mode.previous(), "url": url,
                                             "port": port, "gateway_image": gateway_image})
        return DeployResult("docker", version=prev["digest"][:12], changed=changed,
                            endpoints=self.endpoints(url), details={"url": url, "image": prev["image"]})

    # ---- lock: a named, never started container on the engine (see lock.py) --------------
    def _acquire_lock(self, info: LockInfo) -> LockInfo | None:
        from .engine import MANAGED, ROLE, labels_for
        from .images import lock_image
        from .lock import acquire_lock

        client = self.client()
        image = lock_image(client, {MANAGED: "true", ROLE: "lock"})  # never pulled: an empty local image
        return acquire_lock(client, self.project.name, image,
                            labels_for(self.project.name, "lock", self.settings.labels), info)

    def _release_lock(self, info: LockInfo) -> None:
        from .lock import release_lock

        release_lock(self.client(), self.project.name, info)

    def _renew_lock(self, info: LockInfo) -> bool:
        from .lock import renew_lock

        return renew_lock(self.client(), self.project.name, info)

    def _break_lock(self, expected: LockInfo | None = None) -> LockInfo | None:
        from .lock import break_lock

        return break_lock(self.client(), self.project.name, expected)

    def endpoints(self, url: str) -> tuple[Endpoint, ...]:
        out = []
        for fn in self.project.functions_for("docker"):
            for trig in fn.triggers_of("http"):
                assert trig.http is not None
                out.append(Endpoint(fn.name, url + trig.http.path, "key" if trig.http.auth == "key" else "none"))
        return tuple(out)

    # ---- operate -----------------------------------------------------------------------------------
    def url(self) -> str:
        return str(self.mode().url())

    def _invoke(self, request: InvokeRequest) -> InvokeResult:
        from .invoke import invoke

        result: InvokeResult = invoke(self.project, self.settings, self.url(), request)
        return result

    def _logs(self, function: str | None, since: datetime | None, follow: bool) -> Iterator[LogRecord]:
        yield from self.mode().logs(function, since, follow)

    def _invocations(self, function: str | None, since: datetime, limit: int) -> list[Invocation]:
        """From the live container's (swarm: the service's) access lines, as `logs` reads them."""
        from multicloud.access_log import from_lines

        return from_lines((r.message for r in self.mode().logs(function, since, False)), function, since, limit)

    def _status(self) -> StatusReport:
        return self.mode().status()  # type: ignore[no-any-return]

    def _remove(self, progress: Progress) -> RemoveResult:
        removed = self.mode().remove()
        clear_state(self.project, "docker")
        return RemoveResult("docker", tuple(removed))
