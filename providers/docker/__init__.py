"""The `docker` target: the private cloud on one Docker Engine (blue/green) or a Swarm (rolling updates).

build  -> a deterministic context (code + vendored runtime + runtime.json + host-installed deps and server
          packages) and an image tagged by its digest; the gateway image (HAProxy + this service's config)
plan   -> steps from the spec and what the engine reports (plan.py), single or swarm
apply  -> exactly those steps through the executor table (apply.py); rollback = a plan to the previous release
          single: new container on the free slot, wait healthy, switch the gateway's slots over its
          runtime API, drain, stop the old (`single.py`, `proxy.py`)
          swarm: a service with rolling-update/rollback config behind a gateway service (`swarm.py`)
build.py (images), ops.py (url, status, logs, remove), lock.py, drift.py, errors.py: one module per job.
The Docker SDK is imported lazily inside hooks; the engine comes from `docker.from_env()` (DOCKER_HOST).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from multicloud.broker.hooks import BrokerEvents
from multicloud.errors import MulticloudError
from multicloud.provider import (
    BuildResult,
    DeployResult,
    Invocation,
    InvokeRequest,
    InvokeResult,
    LockInfo,
    LogRecord,
    Plan,
    Progress,
    RemoveResult,
    StatusReport,
    no_progress,
)
from multicloud.state import clear_state

from .settings import DockerSettings

if TYPE_CHECKING:
    from .single import Single
    from .swarm import Swarm


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

    def mode(self) -> Single | Swarm:
        client = self.client()
        if self.settings.mode == "swarm":
            from .swarm import Swarm

            return Swarm(client, self.project, self.settings, no_progress)
        from .single import Single

        return Single(client, self.project, self.settings, no_progress)

    # ---- broker (queue, stream and storage triggers: broker.py) -------------------------------------
    def _broker_admin(self) -> Any:
        return self.mode().broker().admin()

    def _check(self) -> None:
        from multicloud.private_runtime import check_runtime_config

        super()._check()
        check_runtime_config(self.project, "docker")

    # ---- build -------------------------------------------------------------------------------------
    def _build(self, out_dir: Path, progress: Progress) -> BuildResult:
        from .build import build

        return build(self.client(), self.project, self.settings, out_dir, progress)

    def images(self, build: BuildResult) -> dict[str, Any]:
        from .build import images

        return images(build)

    # ---- plan / deploy / rollback: steps from plan.py, executed through apply.py's table -------------
    def mode_for(self, progress: Progress) -> Any:
        mode = self.mode()
        mode.progress = progress
        return mode

    def _plan(self, build: BuildResult | None, progress: Progress) -> Plan:
        from .plan import plan

        return plan(self.mode_for(progress), None if build is None else self.images(build), progress)

    def _apply(self, plan: Plan, build: BuildResult | None, progress: Progress) -> DeployResult:
        from .apply import apply_plan

        return apply_plan(self.mode_for(progress), plan, progress)

    def _plan_rollback(self, progress: Progress) -> Plan:
        from .plan import plan_rollback

        return plan_rollback(self.mode_for(progress), progress)

    def _rollback(self, progress: Progress) -> DeployResult:
        return self._apply(self.plan_rollback(progress), None, progress)

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

    # ---- operate -----------------------------------------------------------------------------------
    def url(self) -> str:
        from .ops import url

        return url(self.mode())

    def _invoke(self, request: InvokeRequest) -> InvokeResult:
        from .invoke import invoke

        result: InvokeResult = invoke(self.project, self.settings, self.url(), request)
        return result

    def _logs(self, function: str | None, since: datetime | None, follow: bool) -> Iterator[LogRecord]:
        from .ops import logs

        yield from logs(self.mode(), function, since, follow)

    def _invocations(self, function: str | None, since: datetime, limit: int) -> list[Invocation]:
        """From the live container's (swarm: the service's) access lines, as `logs` reads them."""
        from multicloud.access_log import from_lines

        from .ops import logs

        return from_lines((r.message for r in logs(self.mode(), function, since, False)), function, since, limit)

    def _status(self) -> StatusReport:
        from .ops import status

        return status(self.mode())

    def _remove(self, progress: Progress) -> RemoveResult:
        from .ops import remove

        removed = remove(self.mode())
        clear_state(self.project, "docker")
        return RemoveResult("docker", tuple(removed))
