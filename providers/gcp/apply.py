"""Apply: the executor table, and `apply`, which runs a plan through it. Each planned step names one
entry of `OPS` and carries its arguments as plain data; applying a plan runs the steps in order through
this table and makes no other write.

Each entry declares the write calls it makes, in order (`calls`, named `api:method`): tests compare them
with the requests the labelled fake receives (tests/e2e/gcp/test_gcp_plan_apply.py). Reads (operation
polls, lookups of a policy or a trigger subscription at apply time) are not listed.

Cloud Functions builds take minutes, so function writes only *start* their long-running operation;
the operation is finished when a later step needs the function (a reference into its output), and at
the latest before the first step that is not a function write: every build runs concurrently, and no
invoker, job or deletion is touched until all of them succeeded (a failure leaves the previous
revisions serving and the rest of the plan unapplied).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multicloud.errors import OperationError
from multicloud.plan import Step
from multicloud.provider import BuildResult, DeployResult, Endpoint, Plan, Progress, no_progress
from multicloud.state import write_state

from .clients import GcpClients, to_dict
from .context import is_ref
from .deployed import Deployed
from .resources import INVOKER_ROLE

OPERATION_TIMEOUT_S = 900
Args = dict[str, Any]
UPLOAD = ("functions:generateUploadUrl", "storage:upload")
FUNCTION_WRITES = frozenset({"functions.create", "functions.update", "functions.replace"})


@dataclass
class Target:
    """What executors act through: the clients, the source zip of the build, and Pub/Sub."""

    clients: GcpClients
    zip_path: Path | None
    pubsub: Any  # pubsub.PubSub
    progress: Progress


Executor = Callable[[Target, Args], object]


@dataclass(frozen=True)
class Op:
    run: Executor
    writes: tuple[str, ...]  # the write calls, in order
    calls_of: Callable[[Mapping[str, Any]], tuple[str, ...]] | None = None  # ...or decided by the arguments

    def calls(self, args: Mapping[str, Any]) -> tuple[str, ...]:
        return self.calls_of(args) if self.calls_of else self.writes


@dataclass
class Pending:
    """A started long-running Cloud Functions operation; `result()` waits for it (once)."""

    function_id: str
    name: str
    operation: Any
    done: dict[str, Any] | None = None

    def result(self) -> dict[str, Any]:
        if self.done is None:
            self.done = _finish(self.function_id, self.name, self.operation)
        return self.done


def _finish(function_id: str, name: str, op: Any) -> dict[str, Any]:
    from google.api_core.exceptions import GoogleAPICallError

    try:
        result = op.result(timeout=OPERATION_TIMEOUT_S)
    except GoogleAPICallError as exc:
        raise OperationError(
            f"deploying Cloud Function {function_id} failed: {exc.message}",
            fix="read the build log linked in the message; fix the code or requirements and deploy again "
                "(the function keeps serving its previous revision, if any)",
            where=name,
        ) from exc
    data = to_dict(result)
    if data.get("state") == "FAILED":
        messages = "; ".join(m.get("message", "") for m in data.get("state_messages", []))
        raise OperationError(f"Cloud Function {function_id} deployed in state FAILED: {messages}",
                             fix="read the build and runtime logs (`multicloud logs --target gcp`)",
                             where=data.get("name"))
    return data


# ---- Cloud Functions ---------------------------------------------------------------------------------
def _upload(target: Target) -> dict[str, Any]:
    import requests

    clients = target.clients
    if target.zip_path is None:
        raise OperationError("the build has no source zip", fix="run `multicloud build --target gcp` first")
    response = clients.functions.generate_upload_url(request={"parent": clients.location})
    with open(target.zip_path, "rb") as fh:
        put = requests.put(response.upload_url, data=fh, headers={"Content-Type": "application/zip"}, timeout=300)
    if put.status_code >= 300:
        raise OperationError(
            f"uploading the source zip failed: HTTP {put.status_code} {put.text[:200]}",
            fix="retry the deploy; the signed upload URL is only valid for a few minutes",
        )
    src = response.storage_source
    return {"bucket": src.bucket, "object_": src.object_, "generation": src.generation} if src.generation \
        else {"bucket": src.bucket, "object_": src.object_}


def _create(target: Target, args: Args) -> object:
    from google.cloud import functions_v2

    want = dict(args["function"])
    want["build_config"] = {**want["build_config"], "source": {"storage_source": _upload(target)}}
    op = target.clients.functions.create_function(parent=target.clients.location,
                                                  function=functions_v2.Function(want),
                                                  function_id=args["function_id"])
    return Pending(args["function_id"], want["name"], op)


def _update(target: Target, args: Args) -> object:
    from google.cloud import functions_v2
    from google.protobuf import field_mask_pb2

    want, mask = dict(args["function"]), list(args["mask"])
    if args["upload"]:
        want["build_config"] = {**want["build_config"], "source": {"storage_source": _upload(target)}}
    op = target.clients.functions.update_function(function=functions_v2.Function(want),
                                                  update_mask=field_mask_pb2.FieldMask(paths=mask))
    return Pending(args["function_id"], want["name"], op)


def _replace(target: Target, args: Args) -> object:
    """An HTTP function cannot become event-triggered or back: delete it (and wait), then create it."""
    target.clients.functions.delete_function(name=args["function"]["name"]).result(timeout=OPERATION_TIMEOUT_S)
    return _create(target, args)


def _delete(target: Target, args: Args) -> object:
    target.clients.functions.delete_function(name=args["name"]).result(timeout=OPERATION_TIMEOUT_S)
    return None


def _update_calls(args: Mapping[str, Any]) -> tuple[str, ...]:
    return (UPLOAD if args["upload"] else ()) + ("functions:patch",)


# ---- Cloud Run invokers ------------------------------------------------------------------------------
def _set_invokers(target: Target, args: Args) -> object:
    """Replace the `roles/run.invoker` binding of the function's Cloud Run service (the rest of the policy,
    read now, kept as it is)."""
    service = args["service"]
    policy = target.clients.rest("GET", "run", f"v2/{service}:getIamPolicy")
    bindings = [dict(b) for b in policy.get("bindings", []) if b.get("role") != INVOKER_ROLE]
    if args["members"]:
        bindings.append({"role": INVOKER_ROLE, "members": sorted(args["members"])})
    new_policy = {**{k: v for k, v in policy.items() if k != "bindings"}, "bindings": bindings}
    return target.clients.rest("POST", "run", f"v2/{service}:setIamPolicy", {"policy": new_policy})


# ---- Cloud Scheduler ---------------------------------------------------------------------------------
def _create_job(target: Target, args: Args) -> object:
    from google.cloud import scheduler_v1

    return target.clients.scheduler.create_job(parent=target.clients.location, job=scheduler_v1.Job(args["job"]))


def _update_job(target: Target, args: Args) -> object:
    from google.cloud import scheduler_v1
    from google.protobuf import field_mask_pb2

    if args["mask"]:
        target.clients.scheduler.update_job(job=scheduler_v1.Job(args["job"]),
                                            update_mask=field_mask_pb2.FieldMask(paths=args["mask"]))
    if args["resume"]:  # paused outside multicloud: multicloud never pauses a job
        job_id = args["job"]["name"].rsplit("/", 1)[1]
        target.progress(f"gcp: resuming scheduler job {job_id} (paused outside multicloud)")
        target.clients.scheduler.resume_job(name=args["job"]["name"])
    return None


def _job_calls(args: Mapping[str, Any]) -> tuple[str, ...]:
    return ("scheduler:patch",) * bool(args["mask"]) + ("scheduler:resume",) * bool(args["resume"])


def _delete_job(target: Target, args: Args) -> object:
    target.clients.scheduler.delete_job(name=args["name"])
    return None


# ---- Pub/Sub dead letters ----------------------------------------------------------------------------
def _create_topic(target: Target, args: Args) -> object:
    return target.pubsub.publisher.create_topic(request=args)


def _create_subscription(target: Target, args: Args) -> object:
    from datetime import timedelta

    return target.pubsub.subscriber.create_subscription(
        request={**args, "message_retention_duration": timedelta(seconds=args["message_retention_duration"])})


def _trigger_subscription(target: Target, function: str) -> str:
    fn = to_dict(target.clients.functions.get_function(name=function))
    sub = target.pubsub.trigger_subscription(fn)
    if sub is None:
        raise OperationError(f"Cloud Function {function} has no Eventarc trigger subscription after its deploy",
                             fix="deploy again; if it persists, check the function's trigger in the console",
                             where=function)
    return str(sub)


def _dead_letter_policy(target: Target, args: Args) -> object:
    """The trigger's subscription (found now: Eventarc makes it with the function) dead-letters to the topic."""
    from google.protobuf import field_mask_pb2

    sub = _trigger_subscription(target, args["function"])
    want = {"dead_letter_topic": args["dead_letter_topic"], "max_delivery_attempts": args["attempts"]}
    return target.pubsub.subscriber.update_subscription(request={
        "subscription": {"name": sub, "dead_letter_policy": want},
        "update_mask": field_mask_pb2.FieldMask(paths=["dead_letter_policy"])})


def _grant(target: Target, args: Args) -> object:
    sub = _trigger_subscription(target, args["function"])
    return target.pubsub.grant(args["dead_letter_topic"], sub, list(args["roles"]), target.progress)


def _delete_subscription(target: Target, args: Args) -> object:
    return target.pubsub.subscriber.delete_subscription(request=args)


def _delete_topic(target: Target, args: Args) -> object:
    return target.pubsub.publisher.delete_topic(request=args)


OPS: dict[str, Op] = {
    "functions.create": Op(_create, (*UPLOAD, "functions:create")),
    "functions.update": Op(_update, (), _update_calls),
    "functions.replace": Op(_replace, ("functions:delete", *UPLOAD, "functions:create")),
    "functions.delete": Op(_delete, ("functions:delete",)),
    "run.set_invokers": Op(_set_invokers, ("run:setIamPolicy",)),
    "scheduler.create": Op(_create_job, ("scheduler:create",)),
    "scheduler.update": Op(_update_job, (), _job_calls),
    "scheduler.delete": Op(_delete_job, ("scheduler:delete",)),
    "pubsub.create_topic": Op(_create_topic, ("pubsub:CreateTopic",)),
    "pubsub.create_subscription": Op(_create_subscription, ("pubsub:CreateSubscription",)),
    "pubsub.dead_letter_policy": Op(_dead_letter_policy, ("pubsub:UpdateSubscription",)),
    "pubsub.grant": Op(_grant, (), lambda args: ("pubsub:SetIamPolicy",) * len(args["roles"])),
    "pubsub.delete_subscription": Op(_delete_subscription, ("pubsub:DeleteSubscription",)),
    "pubsub.delete_topic": Op(_delete_topic, ("pubsub:DeleteTopic",)),
}


def resolve(value: Any, outputs: Mapping[str, Any]) -> Any:
    """Replace references (`context.ref`) with what earlier steps produced (waiting for a function)."""
    if is_ref(value):
        found: Any = outputs.get(value["$ref"])
        if found is None:
            raise OperationError(f"a planned step needs {value['$ref']}, which no earlier step produced",
                                 fix="plan again: the plan is inconsistent (a bug worth reporting)")
        if isinstance(found, Pending):
            found = found.result()
        for part in value.get("path", []):
            found = found[part]
        return found
    if isinstance(value, dict):
        return {k: resolve(v, outputs) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, outputs) for v in value]
    return value


def finish_all(outputs: Mapping[str, Any]) -> None:
    """Wait for every started function; one error, or all of them in one message."""
    errors: list[OperationError] = []
    for value in outputs.values():
        if isinstance(value, Pending):
            try:
                value.result()
            except OperationError as exc:
                errors.append(exc)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise OperationError("; ".join(e.what for e in errors), fix=errors[0].fix) from errors[0].__cause__


def apply_steps(target: Target, steps: tuple[Step, ...], progress: Progress) -> dict[str, Any]:
    """Execute every step with an executor, in order; the outputs, for what the deploy reports."""
    outputs: dict[str, Any] = {}
    for step in steps:
        if not step.op:
            continue
        if step.op not in FUNCTION_WRITES:
            finish_all(outputs)
        progress(f"gcp: {step.action} {step.resource}" + (f" ({step.detail})" if step.detail else ""))
        args = resolve(dict(step.args), outputs)
        out = args.pop("$out", None)
        answer = OPS[step.op].run(target, args)
        if out:
            outputs[out] = answer
    finish_all(outputs)
    return outputs


def apply(d: Deployed, plan: Plan, build: BuildResult, progress: Progress = no_progress) -> DeployResult:
    """Exactly the plan's steps, then the state cache of what they made, and the report."""
    zip_path = build.artifacts[0].path if build.artifacts else None
    outputs = apply_steps(Target(d.clients, zip_path, d.pubsub, progress), plan.steps, progress)
    facts = resolve(dict(plan.memo["facts"]), outputs)
    endpoints = [Endpoint(fn, str(resolve(url, outputs)), auth) for fn, url, auth in plan.memo["endpoints"]]
    # a cache only: plan, deploy, invoke and status read every function back from the platform
    write_state(d.project, "gcp", {"project": d.clients.project_id, "region": d.clients.region,
                                   "digest": build.digest, "functions": facts})
    return DeployResult("gcp", build.digest[:12], plan.has_changes, tuple(endpoints),
                        {"project": d.clients.project_id, "region": d.clients.region})
