"""The `local` target: the private runtime as a supervised background process on this machine. Needs
nothing but Python: no engine, no SDK.

One module per job, the same names as every provider: `settings` (targets.local), `capabilities` (its
row), `build` (stage the runtime artifact), `plan` (steps from the deploy state and the supervisor),
`apply` (copy the release, start or swap the supervisor), `ops` (invoke, logs, status, rollback, remove),
`lock` (a file lock), `drift` (what changed outside multicloud), `errors` (broker errors). Local extras:
`supervisor` (the process that holds the port and swaps servers), `control` (paths and the control
socket), `processes` (starting and stopping it), `broker` (nats-server), `secret_values`, `invoke`, `logs`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from multicloud.broker.admin import BrokerAdmin
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
)

from . import control
from .settings import LocalSettings


class LocalProvider(BrokerEvents[LocalSettings]):
    name = "local"
    settings_class = LocalSettings

    @property
    def rundir(self) -> Path:
        return control.run_dir(self.project)

    @property
    def key_path(self) -> Path:
        return control.key_path(self.rundir)

    def _check(self) -> None:
        from multicloud.private_runtime import check_runtime_config

        super()._check()
        check_runtime_config(self.project, "local")
        topo = self._topology()
        if not topo.empty:
            from .broker import require_binary

            require_binary(topo)

    def _broker_admin(self) -> BrokerAdmin:
        from .broker import admin_for

        return admin_for(self.project, self.settings)

    def _build(self, out_dir: Path, progress: Progress) -> BuildResult:
        from .build import build

        return build(self.project, self.settings, out_dir, progress)

    def _plan(self, build: BuildResult | None, progress: Progress) -> Plan:
        from .plan import plan

        return plan(self.project, self.settings, build, progress)

    def _apply(self, plan: Plan, build: BuildResult, progress: Progress) -> DeployResult:
        from .apply import apply

        return apply(self.project, self.settings, plan, build, progress)

    def _rollback(self, progress: Progress) -> DeployResult:
        from .ops import rollback

        return rollback(self.project, self.settings, progress)

    def _invoke(self, request: InvokeRequest) -> InvokeResult:
        from .ops import invoke

        return invoke(self.project, request)

    def _logs(self, function: str | None, since: datetime | None, follow: bool) -> Iterator[LogRecord]:
        from .ops import logs

        return logs(self.project, function, since, follow)

    def _invocations(self, function: str | None, since: datetime, limit: int) -> list[Invocation]:
        from .ops import invocations

        return invocations(self.project, function, since, limit)

    def _status(self) -> StatusReport:
        from .ops import status

        return status(self.project)

    def _remove(self, progress: Progress) -> RemoveResult:
        from .ops import remove

        return remove(self.project, self.settings, progress)

    def _acquire_lock(self, info: LockInfo) -> LockInfo | None:
        from .lock import deploy_lock

        return deploy_lock(self.project).acquire(info)

    def _renew_lock(self, info: LockInfo) -> bool:
        from .lock import deploy_lock

        return deploy_lock(self.project).renew(info)

    def _release_lock(self, info: LockInfo) -> None:
        from .lock import deploy_lock

        deploy_lock(self.project).release(info)

    def _break_lock(self, expected: LockInfo | None = None) -> LockInfo | None:
        from .lock import deploy_lock

        return deploy_lock(self.project).break_lock(expected)

    def translate_error(self, exc: Exception) -> MulticloudError | None:
        from .errors import translate

        return translate(exc)
