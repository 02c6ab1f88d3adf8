"""Plan: how each function's role, code, version, alias and triggers converge, as steps.

`plan` walks the spec against what AWS reports (reads only) and records one step per write, each naming
an executor of `apply.OPS` with its arguments; `apply.apply` runs exactly those steps, in order, and
nothing else. Order matters for safety: triggers already point at the `live` alias, and the alias moves
only after the new version is published, so any failure leaves the previous version serving.
"""

from __future__ import annotations

from typing import Any

from multicloud.plan import fingerprint
from multicloud.project import Project, ResolvedFunction
from multicloud.provider import BuildResult, Plan, Progress
from multicloud.state import read_state

from . import drift, iam, redrive, sources, triggers
from . import function as fnmod
from .clients import Aws
from .context import Run, is_ref
from .names import Names
from .settings import AwsSettings


def walk(aws: Aws, project: Project, settings: AwsSettings, build: BuildResult, dry: bool,
         progress: Progress) -> tuple[Run, list[tuple[str, Any, str]], dict[str, dict[str, Any]]]:
    run = Run(aws=aws, settings=settings, service=project.name, dry=dry, progress=progress)
    previous = read_state(project, "aws").get("functions", {})
    artifacts = {a.function: a for a in build.artifacts}
    endpoints: list[tuple[str, Any, str]] = []  # (function, url or a reference to it, auth)
    facts: dict[str, dict[str, Any]] = {}
    for fn in project.functions_for("aws"):
        names = Names(project.name, settings.stage, fn.name)
        facts[fn.name] = _deploy_one(run, project, names, fn, artifacts[fn.name], previous.get(fn.name, {}),
                                     endpoints)
    _prune(run, project, settings, previous)
    return run, endpoints, facts


def _listed(facts: dict[str, object], key: str) -> list[str]:
    value = facts.get(key)
    return [str(v) for v in value] if isinstance(value, list) else []


def _prune(run: Run, project: Project, settings: AwsSettings, previous: dict[str, dict[str, object]]) -> None:
    """Functions this service and stage deployed before but the spec no longer has (or disables), and the
    dead-letter queues of queues no function reads any more."""
    from .ops import owned_functions, remove_function

    keep = {fn.name for fn in project.functions_for("aws")}
    dropped = {q for facts in previous.values() for q in _listed(facts, "queues")}
    for short, lname in sorted(owned_functions(run.aws, project, settings).items()):
        if short in keep:
            continue
        dropped |= remove_function(run, project, short, lname, _listed(previous.get(short, {}), "buckets"))
    redrive.remove(run, dropped - set(project.channels_for("aws", "queue")))


def _deploy_one(run: Run, project: Project, names: Names, fn: ResolvedFunction, artifact: object,
                previous: dict[str, object], endpoints: list[tuple[str, Any, str]]) -> dict[str, Any]:
    from multicloud.provider import Artifact

    assert isinstance(artifact, Artifact)
    found = sources.resolve(run, fn)  # fails early, before anything changes, if a source is missing
    first_change = len(run.changes)
    current = fnmod.get_function(run, names.lambda_name)
    _observe(run, names, current)
    kept = drift.stored(current.get("Tags") or {}) if current else {}
    record = drift.Record.of(kept, previous.get("fingerprints"))
    tags = names.tags(run.settings.tags)
    policy = iam.execution_policy(run.aws, names, fn, list(found.queues.values()), list(found.streams.values()))
    role_arn = iam.ensure_role(run, names.role, iam.LAMBDA_TRUST, names.policy, policy, tags, record)
    want = fnmod.Desired(names=names, fn=fn, artifact=artifact, role_arn=role_arn, runtime=project.spec.runtime,
                         architecture=run.settings.architecture, tags=tags)
    version = fnmod.ensure_function(run, want, current, bool(previous.get("version")))
    target = fnmod.alias_arn(run, names)
    scheduler_role = None
    if fn.triggers_of("schedule"):
        scheduler_role = iam.ensure_role(run, names.scheduler_role, iam.SCHEDULER_TRUST, names.policy,
                                         iam.invoke_policy([target]), tags, record, "scheduler-role")
    api_id, api_url = triggers.ensure_http_api(run, names, fn, target, tags, record)
    triggers.ensure_permissions(run, names, triggers.desired_statements(run, fn, found, api_id), record)
    was = str(previous.get("url") or "")
    url = triggers.ensure_function_url(run, names, fn, was if ".lambda-url." in was else None, record)
    triggers.ensure_schedules(run, names, fn, target, scheduler_role, record)
    if not fn.triggers_of("schedule"):
        iam.delete_role(run, names.scheduler_role)
    queues = {t.queue.name: t.queue.max_attempts for t in fn.triggers if t.queue is not None}
    if queues:  # before the mappings: no message is consumed without its dead-letter queue
        redrive.ensure(run, names, queues, record)
    triggers.ensure_mappings(run, names, fn, found, target, record)
    before = previous.get("buckets")
    old_buckets = [str(b) for b in before] if isinstance(before, list) else []
    triggers.ensure_notifications(run, names, fn, list(found.buckets) + old_buckets, target, record)
    _keep_record(run, names, record, kept, first_change)
    http = fn.triggers_of("http")
    endpoint = api_url or url
    if http and endpoint:
        auth = "iam" if any(t.http is not None and t.http.auth == "key" for t in http) else "none"
        endpoints.append((fn.name, endpoint, auth))
    return {"name": names.lambda_name, "version": version, "buckets": sorted(found.buckets), "queues": sorted(queues),
            "url": endpoint or None, "fingerprints": record.entries}


def _observe(run: Run, names: Names, current: dict[str, Any] | None) -> None:
    """The function as AWS reports it now: a saved plan is refused if it changed before apply."""
    conf = (current or {}).get("Configuration") or {}
    run.observe(f"lambda function {names.lambda_name}", fingerprint(
        [conf.get("RevisionId"), conf.get("CodeSha256"), drift.stored((current or {}).get("Tags") or {})])
        if current else "missing")


def _keep_record(run: Run, names: Names, record: drift.Record, kept: dict[str, str], first_change: int) -> None:
    """Store this run's fingerprints on the function (see `drift`) where they differ from its tags: a step
    of its own, after the changes it records (`lambda.store_record` in apply.py)."""
    if not any(is_ref(v) for v in _leaves(record.entries)) and record.tags() == kept:
        return
    changed = any(c.action != "noop" for c in run.steps[first_change:])
    run.write("update", f"lambda function {names.lambda_name}", "lambda.store_record",
              {"Resource": fnmod.function_arn(run, names), "entries": record.entries, "kept": sorted(kept)},
              "tags: drift record of the changes above" if changed else "tags: drift record")


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict) and not is_ref(value):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, (list, tuple)):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def plan(aws: Aws, project: Project, settings: AwsSettings, build: BuildResult, progress: Progress) -> Plan:
    run, endpoints, facts = walk(aws, project, settings, build, True, progress)
    observed = {k: str(v) for k, v in run.observed.items()}
    return Plan(target="aws", steps=tuple(run.steps), observed=observed,
                memo={"endpoints": endpoints, "facts": facts})
