"""The `aws` target: AWS Lambda through boto3.

Small modules, one job each, the same names as every provider: `settings` (targets.aws), `capabilities`
(its row), `build` (deterministic zip), `plan` (the steps, from the spec and what AWS reports), `apply` (the
executor table that runs them), `ops` (invoke, status, remove, rollback), `lock` (an SSM parameter),
`drift` (the record of what the last deploy set), `errors` (AWS errors -> multicloud errors). AWS's own:
`iam` (least-privilege roles), `function` (code, version, `live` alias), `triggers` (URL/HTTP API,
schedules, SQS/Kinesis, S3), `events` (native sample events for invoke), `logs`, `invocations`, `export`
(SAM template), `redrive` (dead-letter queues), `messages` (send, pending, dead letters). boto3 loads lazily
inside hooks.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from multicloud.errors import MulticloudError
from multicloud.provider import (
    BuildResult,
    Channel,
    DeadLetter,
    DeadLetterAction,
    DeployResult,
    Invocation,
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

from .settings import AwsSettings

if TYPE_CHECKING:
    from .clients import Aws


class AwsProvider(Provider[AwsSettings]):
    name = "aws"
    extra = "aws"
    settings_class = AwsSettings

    @cached_property
    def aws(self) -> Aws:
        from .clients import Aws

        return Aws(self.settings.region)

    def _check(self) -> None:
        """What only AWS refuses, found before any build (providers/aws/limits.py, redrive.py)."""
        from .limits import check
        from .redrive import check_spec

        self.project.raise_if(check(self.project, self.settings))
        check_spec(self.project)

    def _build(self, out_dir: Path, progress: Progress) -> BuildResult:
        from .build import build

        return build(self.project, self.settings, out_dir, progress)

    def _plan(self, build: BuildResult | None, progress: Progress) -> Plan:
        from multicloud.state import build_dir

        from .plan import plan

        if build is None:
            build = self._build(build_dir(self.project, "aws"), progress)
        return plan(self.aws, self.project, self.settings, build, progress)

    def _apply(self, plan: Plan, build: BuildResult, progress: Progress) -> DeployResult:
        from .apply import apply

        return apply(self.aws, self.project, self.settings, plan, build, progress)

    def _rollback(self, progress: Progress) -> DeployResult:
        from .ops import rollback

        return rollback(self.aws, self.project, self.settings, progress)

    def _invoke(self, request: InvokeRequest) -> InvokeResult:
        from .ops import invoke

        return invoke(self.aws, self.project, self.settings, request)

    def _logs(self, function: str | None, since: datetime | None, follow: bool) -> Iterator[LogRecord]:
        from .logs import logs

        return logs(self.aws, self.project, self.settings, function, since, follow)

    def _invocations(self, function: str | None, since: datetime, limit: int) -> list[Invocation]:
        from .invocations import invocations

        return invocations(self.aws, self.project, self.settings, function, since, limit)

    def _status(self) -> StatusReport:
        from .ops import status

        return status(self.aws, self.project, self.settings)

    def _remove(self, progress: Progress) -> RemoveResult:
        from .ops import remove

        return remove(self.aws, self.project, self.settings, progress)

    def _export(self, fmt: str, out_dir: Path) -> list[Path]:
        from .export import export

        return export(self.project, self.settings, fmt, out_dir)

    # Events: SQS and Kinesis messages, the dead letters in `<queue>-dlq` (messages.py)
    def _send(self, channel: Channel, name: str, body: bytes, attributes: dict[str, str]) -> SendResult:
        from .messages import send

        return send(self.aws, channel, name, body, attributes)

    def _pending(self, queue: str) -> int | None:
        from .messages import pending

        return pending(self.aws, queue)

    def _dead_letters(self, queue: str, limit: int) -> list[DeadLetter]:
        from .messages import dead_letters

        return dead_letters(self.aws, queue, limit)

    def _retry_dead_letters(self, queue: str, ids: tuple[str, ...] | None) -> DeadLetterAction:
        from .messages import retry

        return retry(self.aws, queue, ids)

    def _purge_dead_letters(self, queue: str, ids: tuple[str, ...] | None) -> DeadLetterAction:
        from .messages import purge

        return purge(self.aws, queue, ids)

    # The deploy lock lives in AWS (an SSM parameter), so runners on different machines exclude each other.
    def _acquire_lock(self, info: LockInfo) -> LockInfo | None:
        from .lock import acquire

        return acquire(self.aws, self.project.name, self.settings.stage, info)

    def _release_lock(self, info: LockInfo) -> None:
        from .lock import release

        release(self.aws, self.project.name, self.settings.stage, info)

    def _renew_lock(self, info: LockInfo) -> bool:
        from .lock import renew

        return renew(self.aws, self.project.name, self.settings.stage, info)

    def _break_lock(self, expected: LockInfo | None = None) -> LockInfo | None:
        from .lock import break_lock

        return break_lock(self.aws, self.project.name, self.settings.stage, expected)

    def translate_error(self, exc: Exception) -> MulticloudError | None:
        from .errors import translate

        return translate(exc)
