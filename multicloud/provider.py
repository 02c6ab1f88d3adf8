"""The contract every target implements, and the shared flow around it.

A provider is a class registered under the `multicloud.providers` entry-point group. The base class owns
the flow that is the same everywhere (capability checks, error translation, the build manifest); a
provider fills in small typed hooks (`_build`, `_deploy`, ...). A hook a provider does not implement
raises `UnsupportedError` (exit 3): a command never pretends.

Providers import their cloud SDK lazily, inside hooks, so `multicloud --help` and `validate` stay fast.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import ClassVar, Generic, Literal

from pydantic import BaseModel
from typing_extensions import TypeVar

from multicloud.errors import MulticloudError, UnsupportedError
from multicloud.plan import Plan as Plan
from multicloud.plan import Step as Step
from multicloud.plan import fingerprint
from multicloud.project import Project

Progress = Callable[[str], None]
#: A target's settings model (`targets.<name>` in the spec): `Provider[AwsSettings]` types `self.settings`.
S = TypeVar("S", bound=BaseModel, default=BaseModel)
TriggerKindOrDirect = Literal["http", "schedule", "queue", "stream", "storage", "direct"]
Channel = Literal["queue", "stream"]


def no_progress(_message: str) -> None:
    return None


@dataclass(frozen=True)
class Artifact:
    function: str
    path: Path  # the file (zip) or folder the platform receives
    entry_point: str  # what the platform calls, e.g. "_multicloud_entry.hello" on Lambda
    size: int
    sha256: str


@dataclass(frozen=True)
class BuildResult:
    target: str
    out_dir: Path
    artifacts: tuple[Artifact, ...]
    digest: str  # hash over every artifact: unchanged digest means nothing to upload

    def manifest(self) -> dict[str, object]:
        return {
            "target": self.target,
            "digest": self.digest,
            "functions": {
                a.function: {
                    "artifact": str(a.path.relative_to(self.out_dir)) if a.path.is_relative_to(self.out_dir)
                    else str(a.path),
                    "entry_point": a.entry_point,
                    "size": a.size,
                    "sha256": a.sha256,
                }
                for a in self.artifacts
            },
        }

    def write_manifest(self) -> Path:
        path = self.out_dir / "build.json"
        path.write_text(json.dumps(self.manifest(), indent=2, sort_keys=True) + "\n")
        return path


@dataclass(frozen=True)
class Change:
    """The shape of a planned change before steps (multicloud.plan.Step): `Plan` turns it into a step.
    Targets not yet converted to steps still build these."""

    action: Literal["create", "update", "delete", "noop"]
    resource: str
    detail: str = ""


@dataclass(frozen=True)
class Endpoint:
    function: str
    url: str
    auth: Literal["none", "key", "iam"] = "none"


@dataclass(frozen=True)
class DeployResult:
    target: str
    version: str
    changed: bool
    endpoints: tuple[Endpoint, ...] = ()
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class InvokeRequest:
    function: str
    trigger: TriggerKindOrDirect = "http"
    method: str = "GET"
    path: str | None = None  # default: the function's first http route
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, list[str]] = field(default_factory=dict)
    body: bytes = b""
    event: dict[str, object] | None = None  # raw payload for non-HTTP triggers, else a generated sample


@dataclass(frozen=True)
class InvokeResult:
    function: str
    ok: bool
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str | None = None
    duration_ms: float | None = None


@dataclass(frozen=True)
class LogRecord:
    time: datetime
    function: str
    message: str


@dataclass(frozen=True)
class Invocation:
    """One call of a function as the target's own records report it (access log, platform log lines)."""

    time: datetime
    function: str
    ok: bool  # False: an HTTP 5xx, or an error the platform or the runtime logged for that call
    duration_ms: float | None = None
    status: int | None = None  # the HTTP status, where the target records one
    request_id: str | None = None
    error: str | None = None  # a short reason, never a value from the request


@dataclass(frozen=True)
class FunctionStatus:
    function: str
    state: str  # e.g. running, active, stopped, missing, failed, restarting, oom-killed
    version: str | None = None
    endpoint: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class StatusReport:
    target: str
    deployed: bool
    functions: tuple[FunctionStatus, ...] = ()
    details: dict[str, str] = field(default_factory=dict)
    down: str | None = None  # set when a deployment exists but does not serve: why (`status` exits 1)


@dataclass(frozen=True)
class LockInfo:
    """Who holds a target's deploy lock: stored with the lock so a contender can say who and since when.

    `expires` is pushed forward by the holder's heartbeat (see multicloud.locking); a lock whose holder
    stopped beating (killed, machine gone) expires and the next run takes it over. None: never expires
    (a lock written before heartbeats existed, or unreadable), only `multicloud unlock` breaks it.
    """

    owner: str  # host:pid:nonce
    operation: str  # deploy, remove, rollback, move
    since: datetime
    expires: datetime | None = None

    def to_json(self) -> str:
        data = {"owner": self.owner, "operation": self.operation, "since": self.since.isoformat()}
        if self.expires is not None:
            data["expires"] = self.expires.isoformat()
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> LockInfo:
        data = json.loads(text)
        expires = data.get("expires")
        return cls(str(data["owner"]), str(data["operation"]), datetime.fromisoformat(data["since"]),
                   datetime.fromisoformat(expires) if expires else None)

    @classmethod
    def unknown(cls, why: str) -> LockInfo:
        """A holder that cannot be read (never expires: a person decides with `multicloud unlock`)."""
        return cls(f"unknown ({why})", "deploy", datetime.fromtimestamp(0, timezone.utc))

    def renewed(self, ttl_s: float) -> LockInfo:
        return replace(self, expires=datetime.now(timezone.utc) + timedelta(seconds=ttl_s))

    def expired(self, now: datetime | None = None) -> bool:
        return self.expires is not None and self.expires <= (now or datetime.now(timezone.utc))


@dataclass(frozen=True)
class SendResult:
    """Where `multicloud send` put a message: the spec's name and the target's own address for it."""

    target: str
    channel: Channel
    name: str  # the queue or stream name in the spec
    destination: str  # as the target names it: an SQS queue URL, a Pub/Sub topic path, a NATS subject...
    message_id: str | None = None


@dataclass(frozen=True)
class DeadLetter:
    """A message a queue function failed on `max_attempts` times, kept where the target keeps them."""

    id: str  # the target's id for it: what `dead-letters --retry/--purge --id` take
    queue: str  # the spec's queue name
    body: bytes
    attributes: dict[str, str] = field(default_factory=dict)
    attempts: int | None = None  # deliveries before it was dead-lettered, where the target records it
    last_error: str | None = None  # the handler's last error, where the target records it
    time: datetime | None = None  # when it was dead-lettered (or first sent, where that is all it keeps)


@dataclass(frozen=True)
class DeadLetterAction:
    target: str
    queue: str
    action: Literal["retry", "purge"]
    ids: tuple[str, ...]  # the dead letters acted on


@dataclass(frozen=True)
class RemoveResult:
    target: str
    removed: tuple[str, ...]


def to_jsonable(obj: object) -> object:
    """Results as plain JSON data for `--output json`."""
    if hasattr(obj, "__dataclass_fields__"):
        return to_jsonable(asdict(obj))  # type: ignore[call-overload]
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, bytes):
        try:
            return obj.decode("utf-8")
        except UnicodeDecodeError:
            import base64

            return {"base64": base64.b64encode(obj).decode()}
    return obj


class Provider(Generic[S]):
    """Base class of every target. Public methods are the flow; `_hooks` are the provider's part.

    Generic in the target's settings model: `class AwsProvider(Provider[AwsSettings])` with
    `settings_class = AwsSettings` makes `self.settings` an `AwsSettings` everywhere, checked once here."""

    name: ClassVar[str]
    #: The model of `targets.<name>` in the spec (providers/<name>/settings.py).
    settings_class: ClassVar[type[BaseModel]] = BaseModel
    #: The pip extra that brings this target's SDK (multicloud.extras), None when it needs none.
    extra: ClassVar[str | None] = None
    #: Operations that work without that SDK (no cloud call); every other one checks for it first.
    sdk_free: ClassVar[frozenset[str]] = frozenset({"check", "build", "export"})

    def __init__(self, project: Project) -> None:
        self.project = project

    @property
    def settings(self) -> S:
        """This target's settings from the spec (defaults when the spec has none)."""
        found = self.project.settings(self.name)
        if not isinstance(found, self.settings_class):  # a wiring bug, not bad input
            raise TypeError(f"{self.name} settings are {type(found).__name__}, not {self.settings_class.__name__}")
        return found  # type: ignore[return-value]

    # ---- flow (template methods) -------------------------------------------------------------------
    def require_sdk(self) -> None:
        """Exit 3, naming the pip extra, when this target's SDK is not installed (checked, not imported)."""
        if self.extra is not None:
            from multicloud.extras import require

            require(self.extra, self.name)

    def check(self) -> None:
        """Target-specific spec checks that need no cloud: raise SpecErrors (exit 2) or
        UnsupportedError (exit 3). `validate` and every build run it, so a mapping the target cannot do
        fails before anything is built."""
        with self._translated("check"):
            self._check()

    def build(self, out_dir: Path, progress: Progress = no_progress) -> BuildResult:
        out_dir.mkdir(parents=True, exist_ok=True)
        with self._translated("build"):
            result = self._build(out_dir, progress)
        result.write_manifest()
        return result

    def plan(self, build: BuildResult | None, progress: Progress = no_progress) -> Plan:
        """The steps a deploy of `build` would make, with what they were computed against (the spec's and
        artifacts' fingerprints, what the target reports now): see multicloud.plan."""
        with self._translated("plan"):
            plan = self._plan(build, progress)
        return self._sealed(plan, build)

    def deploy(self, build: BuildResult, progress: Progress = no_progress) -> DeployResult:
        """Plan, then apply exactly that plan (targets converted to steps), or the target's own deploy."""
        if not self.executes_plans():
            with self._translated("deploy"):
                return self._deploy(build, progress)
        return self.apply(self.plan(build, progress), build, progress)

    def apply(self, plan: Plan, build: BuildResult, progress: Progress = no_progress) -> DeployResult:
        """Execute `plan`'s steps and nothing else. A target not yet converted to steps runs its whole
        deploy as one opaque step (the compatibility adapter: its plan's steps describe it)."""
        with self._translated("deploy"):
            if not self.executes_plans():
                return self._deploy(build, progress)
            return self._apply(plan, build, progress)

    @classmethod
    def executes_plans(cls) -> bool:
        """True when the target builds executable steps (`_apply`), False when it still has `_deploy` only."""
        return cls._apply is not Provider._apply

    def _sealed(self, plan: Plan, build: BuildResult | None) -> Plan:
        """Fill in what every plan records: spec fingerprint, artifacts' digests, and (for targets that
        observe nothing themselves) the local state cache as the state fingerprint."""
        from multicloud.state import read_state

        observed = plan.observed or {"deploy state": fingerprint(read_state(self.project, self.name))}
        return replace(
            plan, spec=plan.spec or fingerprint(self.project.spec.model_dump(mode="json")),
            digest=plan.digest or (build.digest if build else ""),
            artifacts=plan.artifacts or ({a.function: a.sha256 for a in build.artifacts} if build else {}),
            observed=observed)

    def invoke(self, request: InvokeRequest) -> InvokeResult:
        with self._translated("invoke"):
            return self._invoke(request)

    def logs(self, function: str | None, since: datetime | None, follow: bool) -> Iterator[LogRecord]:
        with self._translated("logs"):
            yield from self._logs(function, since, follow)

    def status(self) -> StatusReport:
        with self._translated("status"):
            return self._status()

    def invocations(self, function: str | None, since: datetime, limit: int = 500) -> list[Invocation]:
        """Recent calls of one function (or all), oldest first, at most `limit` (the newest ones), read
        from what the target records: the dashboard's invocations, errors and latency."""
        with self._translated("invocations"):
            return self._invocations(function, since, limit)

    def remove(self, progress: Progress = no_progress) -> RemoveResult:
        with self._translated("remove"):
            return self._remove(progress)

    def rollback(self, progress: Progress = no_progress) -> DeployResult:
        with self._translated("rollback"):
            return self._rollback(progress)

    def plan_rollback(self, progress: Progress = no_progress) -> Plan:
        """The steps `rollback` would make, for targets whose rollback is a plan (`rollback --dry-run`)."""
        with self._translated("rollback"):
            return self._sealed(self._plan_rollback(progress), None)

    def export(self, fmt: str, out_dir: Path) -> list[Path]:
        with self._translated("export"):
            return self._export(fmt, out_dir)

    def send(self, channel: Channel, name: str, body: bytes, attributes: Mapping[str, str]) -> SendResult:
        """Put one message where the service's `channel` trigger named `name` reads it."""
        with self._translated("send"):
            return self._send(channel, name, body, dict(attributes))

    def pending(self, queue: str) -> int | None:
        """Messages waiting in a queue trigger's queue (visible and in flight); None when it cannot tell.
        `move` waits for the source's queues to empty before it removes the source."""
        with self._translated("pending"):
            return self._pending(queue)

    def dead_letters(self, queue: str, limit: int = 100) -> list[DeadLetter]:
        """The dead letters of one queue trigger, oldest first, without removing them."""
        with self._translated("dead_letters"):
            return self._dead_letters(queue, limit)

    def retry_dead_letters(self, queue: str, ids: Sequence[str] | None = None) -> DeadLetterAction:
        """Send dead letters (all, or those `ids`) back to the queue, each once, then drop them."""
        with self._translated("dead_letters"):
            return self._retry_dead_letters(queue, None if ids is None else tuple(ids))

    def purge_dead_letters(self, queue: str, ids: Sequence[str] | None = None) -> DeadLetterAction:
        """Drop dead letters (all, or those `ids`) for good."""
        with self._translated("dead_letters"):
            return self._purge_dead_letters(queue, None if ids is None else tuple(ids))

    def acquire_lock(self, info: LockInfo) -> LockInfo | None:
        """Take the target's deploy lock atomically: None when taken, else the current holder."""
        with self._translated("lock"):
            return self._acquire_lock(info)

    def release_lock(self, info: LockInfo) -> None:
        """Release the lock if `info` still holds it."""
        with self._translated("lock"):
            self._release_lock(info)

    def renew_lock(self, info: LockInfo) -> bool:
        """Store `info` (a later `expires`) if its owner still holds the lock; False when it was lost."""
        with self._translated("lock"):
            return self._renew_lock(info)

    def break_lock(self, expected: LockInfo | None = None) -> LockInfo | None:
        """Remove the held lock and return who held it. With `expected`, only if the lock is still exactly
        that one (same owner and expiry: its holder did not renew it meanwhile), else None."""
        with self._translated("lock"):
            return self._break_lock(expected)

    # ---- hooks -------------------------------------------------------------------------------------
    def _check(self) -> None:
        return None

    def _build(self, out_dir: Path, progress: Progress) -> BuildResult:
        raise self._unsupported("build")

    def _plan(self, build: BuildResult | None, progress: Progress) -> Plan:
        raise self._unsupported("plan")

    def _deploy(self, build: BuildResult, progress: Progress) -> DeployResult:
        raise self._unsupported("deploy")

    def _apply(self, plan: Plan, build: BuildResult, progress: Progress) -> DeployResult:
        """Execute exactly `plan.steps` (through the target's executor table); see docs/architecture.md."""
        raise self._unsupported("deploy")

    def _invoke(self, request: InvokeRequest) -> InvokeResult:
        raise self._unsupported("invoke")

    def _logs(self, function: str | None, since: datetime | None, follow: bool) -> Iterator[LogRecord]:
        raise self._unsupported("logs")

    def _status(self) -> StatusReport:
        raise self._unsupported("status")

    def _invocations(self, function: str | None, since: datetime, limit: int) -> list[Invocation]:
        raise self._unsupported("invocations")

    def _remove(self, progress: Progress) -> RemoveResult:
        raise self._unsupported("remove")

    def _rollback(self, progress: Progress) -> DeployResult:
        raise self._unsupported("rollback")

    def _plan_rollback(self, progress: Progress) -> Plan:
        raise self._unsupported("rollback --dry-run")

    def _export(self, fmt: str, out_dir: Path) -> list[Path]:
        raise self._unsupported("export")

    # Events: `send` and the dead letters of queue triggers (every target that has queues implements them).
    def _send(self, channel: Channel, name: str, body: bytes, attributes: dict[str, str]) -> SendResult:
        raise self._unsupported("send")

    def _pending(self, queue: str) -> int | None:
        return None

    def _dead_letters(self, queue: str, limit: int) -> list[DeadLetter]:
        raise self._unsupported("dead-letters")

    def _retry_dead_letters(self, queue: str, ids: tuple[str, ...] | None) -> DeadLetterAction:
        raise self._unsupported("dead-letters --retry")

    def _purge_dead_letters(self, queue: str, ids: tuple[str, ...] | None) -> DeadLetterAction:
        raise self._unsupported("dead-letters --purge")

    # Locks: by default a file beside the spec (multicloud/file_lock.py says when that is enough); targets
    # that can store the lock with the deployment (a tag, a parameter, a lease, a named container) override
    # these hooks so runners on different machines exclude each other. Contract: see multicloud.locking.
    def _acquire_lock(self, info: LockInfo) -> LockInfo | None:
        from multicloud.file_lock import lock_file

        return lock_file(self.project.root, self.name).acquire(info)

    def _renew_lock(self, info: LockInfo) -> bool:
        from multicloud.file_lock import lock_file

        return lock_file(self.project.root, self.name).renew(info)

    def _release_lock(self, info: LockInfo) -> None:
        from multicloud.file_lock import lock_file

        lock_file(self.project.root, self.name).release(info)

    def _break_lock(self, expected: LockInfo | None = None) -> LockInfo | None:
        from multicloud.file_lock import lock_file

        return lock_file(self.project.root, self.name).break_lock(expected)

    def translate_error(self, exc: Exception) -> MulticloudError | None:
        """Map an SDK exception to a clear error with a fix; None leaves it alone (a bug: traceback)."""
        return None

    # ---- helpers -----------------------------------------------------------------------------------
    def _unsupported(self, what: str) -> UnsupportedError:
        return UnsupportedError(
            f"`{what}` is not implemented for the {self.name} target yet",
            fix="see the README's capability table for what each target supports",
        )

    @contextmanager
    def _translated(self, operation: str) -> Iterator[None]:
        """Run one operation: its SDK must be installed (exit 3 naming the extra, before anything
        starts), and the SDK's exceptions become multicloud errors."""
        from multicloud import extras

        if operation not in self.sdk_free:
            self.require_sdk()
        try:
            yield
        except MulticloudError:
            raise
        except ModuleNotFoundError as exc:
            missing = extras.error_for(exc, self.name)
            if missing is None:
                raise
            raise missing from exc
        except Exception as exc:
            try:
                mapped = self.translate_error(exc)
            except ModuleNotFoundError:  # translating needs the SDK's exception classes
                mapped = None
            if mapped is None:
                raise
            raise mapped from exc
