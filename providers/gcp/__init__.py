"""The `gcp` target: Google Cloud Functions (gen2), Eventarc triggers and Cloud Scheduler.

One module per job, the same names as every provider: `settings` (targets.gcp), `capabilities` (its row),
`build` (render + zip), `plan` (read the functions back, diff field by field: steps), `apply` (the executor
table: upload, create or patch with an update mask, wait on the operation, then IAM and Scheduler), `ops`
(invoke, logs, status, remove), `lock` (a Cloud Storage object, so runners on different machines exclude
each other), `drift` (the record of what the last deploy set), `errors`. Google's own: `deployed` (this
service's resources read back, ownership checked), `model` and `resources` (the spec as Cloud Functions
resources), `pubsub` (send and dead letters), `clients`, `context`. google-cloud-functions and
google-cloud-scheduler are imported lazily, inside the hooks, by `clients.py`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from multicloud.errors import MulticloudError, UnsupportedError
from multicloud.provider import (
    BuildResult,
    Channel,
    DeadLetter,
    DeadLetterAction,
    DeployResult,
    InvokeRequest,
    InvokeResult,
    LockInfo,
    LogRecord,
    Plan,
    Progress,
    Provider,
    RemoveResult,
    SendResult,
    StatusReport,
)

from .settings import GcpSettings

if TYPE_CHECKING:
    from .deployed import Deployed
    from .lock import LockObject
    from .pubsub import PubSub


class GcpProvider(Provider[GcpSettings]):
    name = "gcp"
    extra = "gcp"
    settings_class = GcpSettings

    def _check(self) -> None:
        from .build import check_requirements
        from .model import cloud_functions

        cloud_functions(self.project)
        check_requirements(self.project)

    def _build(self, out_dir: Path, progress: Progress) -> BuildResult:
        from .build import build

        return build(self.project, out_dir, progress)

    def _deployed(self) -> Deployed:
        from .clients import GcpClients
        from .deployed import Deployed

        return Deployed(self.project, GcpClients.from_environment(self.project))

    def _plan(self, build: BuildResult | None, progress: Progress) -> Plan:
        from multicloud.state import build_dir

        from .clients import GcpClients
        from .plan import Planner

        if build is None:
            build = self._build(build_dir(self.project, "gcp"), progress)
        return Planner(self.project, GcpClients.from_environment(self.project)).plan(build)

    def _apply(self, plan: Plan, build: BuildResult, progress: Progress) -> DeployResult:
        from .apply import apply

        return apply(self._deployed(), plan, build, progress)

    def _invoke(self, request: InvokeRequest) -> InvokeResult:
        from .ops import invoke

        return invoke(self._deployed(), request)

    def _logs(self, function: str | None, since: datetime | None, follow: bool) -> Iterator[LogRecord]:
        from .ops import logs

        yield from logs(self._deployed(), function, since, follow)

    def _status(self) -> StatusReport:
        from .ops import status

        return status(self._deployed())

    def _remove(self, progress: Progress) -> RemoveResult:
        from .ops import remove

        return remove(self._deployed(), progress)

    # ---- events: Pub/Sub publish and the dead letters in <topic>-dlq (pubsub.py) -------------------
    def _pubsub(self) -> PubSub:
        from .clients import GcpClients
        from .pubsub import PubSub

        return PubSub(GcpClients.from_environment(self.project, pubsub_only=True), self.project.name)

    def _send(self, channel: Channel, name: str, body: bytes, attributes: dict[str, str]) -> SendResult:
        if channel == "stream":
            raise UnsupportedError("gcp has no stream trigger, so nothing reads a stream there",
                                   fix="send to a queue (a Pub/Sub topic) with --queue")
        return self._pubsub().send(name, body, attributes)

    def _pending(self, queue: str) -> int | None:
        # Pub/Sub's API has no message count; Cloud Monitoring's num_undelivered_messages lags by minutes,
        # so it cannot tell that a subscription is empty now.
        return None

    def _dead_letters(self, queue: str, limit: int) -> list[DeadLetter]:
        return self._pubsub().dead_letters(queue, limit)

    def _retry_dead_letters(self, queue: str, ids: tuple[str, ...] | None) -> DeadLetterAction:
        return self._pubsub().act(queue, ids, retry=True)

    def _purge_dead_letters(self, queue: str, ids: tuple[str, ...] | None) -> DeadLetterAction:
        return self._pubsub().act(queue, ids, retry=False)

    # ---- lock: a Cloud Storage object written with generation preconditions (see lock.py) ------------
    @cached_property
    def _lock_object(self) -> LockObject:
        from .clients import GcpClients
        from .lock import LockObject
        return LockObject(GcpClients.from_environment(self.project), self.project.name, self.settings.state_bucket)

    def _acquire_lock(self, info: LockInfo) -> LockInfo | None:
        return self._lock_object.acquire(info)

    def _renew_lock(self, info: LockInfo) -> bool:
        return self._lock_object.renew(info)

    def _release_lock(self, info: LockInfo) -> None:
        self._lock_object.release(info)

    def _break_lock(self, expected: LockInfo | None = None) -> LockInfo | None:
        return self._lock_object.break_lock(expected)

    def translate_error(self, exc: Exception) -> MulticloudError | None:
        from .errors import translate

        return translate(exc)
