"""The `azure` target: one Azure Functions app (Python v2 model) per service, Event Hubs included.

triggers.py, app.py  spec -> Azure functions, host.json, app settings (pure, no SDK)
build.py             render the blueprints, zip with dependencies pre-installed for Linux
plan.py              the planner: read ARM (reads only), one step per resource and sub-resource, drift labels
apply.py             the executor table (OPS), each op declaring its write requests; apply runs a plan's steps
drift.py             the shared drift record (multicloud/drift.py) stored in the site's tags; what is compared
release.py           publish (one-deploy on Flex via publish.py, a package URL on Consumption), kept packages
sub_resources.py     the planners of containers, queues, hubs, consumer groups, Event Grid subscriptions
trigger_resources.py which of those the triggers need; the Event Grid subscription's PUT
invoke.py            HTTP with a function key, Event Hubs producer, admin endpoint for the rest
messages.py          send (Storage queue, Event Hubs), pending, the poison queues (dead letters)
ops.py               status, deployment log, rollback, remove (ownership tags); errors.py maps SDK errors
lock.py              the deploy lock: a lease on a container in the app's storage account

Azure SDKs are imported inside the hooks' modules only, so importing this package stays cheap.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from multicloud.errors import MulticloudError
from multicloud.project import Project
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

from .settings import AzureSettings

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from .arm import ArmSession


class AzureProvider(Provider[AzureSettings]):
    name = "azure"
    extra = "azure"
    settings_class = AzureSettings

    def __init__(self, project: Project, *, credential: TokenCredential | None = None) -> None:
        """`credential`: any azure-core TokenCredential; default DefaultAzureCredential (lazily)."""
        super().__init__(project)
        self._credential = credential
        self._session: ArmSession | None = None

    def session(self) -> ArmSession:
        """The ARM session (clients built on first use), shared by every hook of this provider."""
        if self._session is None:
            from .arm import ArmSession

            self._session = ArmSession(self.project, self._credential, self.settings)
        return self._session

    def _check(self) -> None:
        from .app import app_model

        app_model(self.project)  # every mapping Azure cannot do raises here, before any build

    def _build(self, out_dir: Path, progress: Progress) -> BuildResult:
        from .build import build_app

        return build_app(self.project, out_dir, progress)

    def _plan(self, build: BuildResult | None, progress: Progress) -> Plan:
        from .plan import plan

        return plan(self.session(), build, progress)

    def _apply(self, plan: Plan, build: BuildResult, progress: Progress) -> DeployResult:
        from .apply import apply

        return apply(self.session(), plan, build, progress)

    def _invoke(self, request: InvokeRequest) -> InvokeResult:
        from .invoke import invoke

        return invoke(self.session(), request)

    def _status(self) -> StatusReport:
        from .ops import status

        return status(self.session())

    def _logs(self, function: str | None, since: datetime | None, follow: bool) -> Iterator[LogRecord]:
        from .ops import logs

        return logs(self.session(), function, since, follow)

    def _rollback(self, progress: Progress) -> DeployResult:
        from .ops import rollback

        return rollback(self.session(), progress)

    def _remove(self, progress: Progress) -> RemoveResult:
        from .ops import remove

        return remove(self.session(), progress)

    # Events: Storage queue messages and Event Hubs events, the poison queues (messages.py)
    def _send(self, channel: Channel, name: str, body: bytes, attributes: dict[str, str]) -> SendResult:
        from .messages import send

        return send(self.session(), channel, name, body, attributes)

    def _pending(self, queue: str) -> int | None:
        from .messages import pending

        return pending(self.session(), queue)

    def _dead_letters(self, queue: str, limit: int) -> list[DeadLetter]:
        from .messages import dead_letters

        return dead_letters(self.session(), queue, limit)

    def _retry_dead_letters(self, queue: str, ids: tuple[str, ...] | None) -> DeadLetterAction:
        from .messages import act

        return act(self.session(), queue, ids, retry=True)

    def _purge_dead_letters(self, queue: str, ids: tuple[str, ...] | None) -> DeadLetterAction:
        from .messages import act

        return act(self.session(), queue, ids, retry=False)

    # The deploy lock lives in Azure (a container lease), so runners on different machines exclude each other.
    def _acquire_lock(self, info: LockInfo) -> LockInfo | None:
        from .lock import acquire

        return acquire(self.session(), info)

    def _renew_lock(self, info: LockInfo) -> bool:
        from .lock import renew

        return renew(self.session(), info)

    def _release_lock(self, info: LockInfo) -> None:
        from .lock import release

        release(self.session(), info)

    def _break_lock(self, expected: LockInfo | None = None) -> LockInfo | None:
        from .lock import break_lock

        return break_lock(self.session(), expected)

    def translate_error(self, exc: Exception) -> MulticloudError | None:
        from .errors import translate

        return translate(exc)
