"""Apply: the executor table, and `apply`, which runs a plan through it. Each planned step names one
entry of `OPS` and carries its arguments as plain data; applying a plan runs the steps in order through
this table and makes no other write.

Most entries are one SDK call (`"lambda:AddPermission"`: service and API operation, arguments passed
as they are). A few are small typed executors for what one resource needs in one go (create a function
from its artifact and wait until it is active; replace a permission; a new HTTP API with its route,
integration and stage). Each entry declares the write calls it makes (`calls`), in order: tests compare
them with the calls seen on the wire (tests/e2e/aws, `CallLog`). Reads (waiters, lookups) are not listed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multicloud.errors import OperationError
from multicloud.plan import Step
from multicloud.project import Project
from multicloud.provider import BuildResult, DeployResult, Endpoint, Plan, Progress
from multicloud.state import read_state, write_state

from . import drift
from .clients import Aws
from .context import error_code, is_ref
from .settings import AwsSettings

WAIT = {"Delay": 1, "MaxAttempts": 300}
Args = dict[str, Any]
Executor = Callable[[Aws, Args], object]


@dataclass(frozen=True)
class Op:
    run: Executor
    writes: tuple[str, ...]  # the write calls, in order
    before: Callable[[Mapping[str, Any]], tuple[str, ...]] | None = None  # ...preceded by these (by arguments)
    after: Callable[[Mapping[str, Any]], tuple[str, ...]] | None = None  # ...followed by these

    def calls(self, args: Mapping[str, Any]) -> tuple[str, ...]:
        return (self.before(args) if self.before else ()) + self.writes + (self.after(args) if self.after else ())


def _sdk(op: str) -> Op:
    """One API call: `service:Operation` with the step's arguments."""
    from botocore import xform_name

    service, operation = op.split(":")

    def run(aws: Aws, args: Args) -> object:
        return getattr(aws.client(service), xform_name(operation))(**args)

    return Op(run, (op,))


# ---- function code -----------------------------------------------------------------------------------
def _upload(args: Mapping[str, Any]) -> tuple[str, ...]:
    return ("s3:PutObject",) if args["code"].get("upload") else ()


def _code(aws: Aws, code: Mapping[str, Any]) -> dict[str, Any]:
    """The `Code` of a create/update: the zip itself, or (large artifacts) an S3 object uploaded first."""
    path = Path(code["path"])
    if "bucket" not in code:
        return {"ZipFile": path.read_bytes()}
    if code.get("upload"):
        with path.open("rb") as body:
            aws.client("s3").put_object(Bucket=code["bucket"], Key=code["key"], Body=body)
    return {"S3Bucket": code["bucket"], "S3Key": code["key"]}


def _wait(aws: Aws, waiter: str, name: str) -> None:
    aws.client("lambda").get_waiter(waiter).wait(FunctionName=name, WaiterConfig=WAIT)


def _create_function(aws: Aws, args: Args) -> object:
    lam = aws.client("lambda")
    code = _code(aws, args.pop("code"))
    for attempt in range(10):
        try:
            lam.create_function(Code=code, **args)
            break
        except Exception as exc:
            # A new role takes a few seconds to become assumable by Lambda (IAM is eventually consistent).
            if error_code(exc) == "InvalidParameterValueException" and "role" in str(exc) and attempt < 9:
                time.sleep(min(2 ** attempt, 8))
                continue
            raise
    _wait(aws, "function_active_v2", args["FunctionName"])
    return None


def _update_code(aws: Aws, args: Args) -> object:
    code = _code(aws, args.pop("code"))
    aws.client("lambda").update_function_code(**args, **code)
    _wait(aws, "function_updated_v2", args["FunctionName"])
    return None


def _update_config(aws: Aws, args: Args) -> object:
    aws.client("lambda").update_function_configuration(**args)
    _wait(aws, "function_updated_v2", args["FunctionName"])
    return None


# ---- permissions, HTTP API, drift record -------------------------------------------------------------
def _replace_permission(aws: Aws, args: Args) -> object:
    """Same statement id, another source: AWS has no update, so remove then add."""
    lam = aws.client("lambda")
    lam.remove_permission(FunctionName=args["FunctionName"], Qualifier=args["Qualifier"],
                          StatementId=args["StatementId"])
    return lam.add_permission(**args)


def _stage(args: Mapping[str, Any]) -> tuple[str, ...]:
    return ("apigatewayv2:CreateStage",) if args.get("stage") else ()


def _route_to_function(aws: Aws, args: Args) -> object:
    """The $default route, its Lambda integration and (if missing) the auto-deployed $default stage (what
    quick create makes), with the route's authorization set: quick create cannot set it."""
    api, api_id = aws.client("apigatewayv2"), args["ApiId"]
    integration = api.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=args["target"],
                                         PayloadFormatVersion="2.0")
    api.create_route(ApiId=api_id, RouteKey="$default", Target=f"integrations/{integration['IntegrationId']}",
                     AuthorizationType=args["auth"])
    if args.get("stage"):
        api.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    return None


def _create_api(aws: Aws, args: Args) -> object:
    made = aws.client("apigatewayv2").create_api(Name=args["Name"], ProtocolType="HTTP", Tags=args["Tags"])
    _route_to_function(aws, {"ApiId": made["ApiId"], "target": args["target"], "auth": args["auth"], "stage": True})
    return dict(made)


def _store_record(aws: Aws, args: Args) -> object:
    """The drift record (see `drift`): fingerprints of what this deploy made, as the function's tags."""
    from .drift import Record

    lam, arn = aws.client("lambda"), args["Resource"]
    tags = Record.tags_of(args["entries"])
    lam.tag_resource(Resource=arn, Tags=tags)
    stale = sorted(set(args["kept"]) - set(tags))
    if stale:
        lam.untag_resource(Resource=arn, TagKeys=stale)
    return None


def _untag(args: Mapping[str, Any]) -> tuple[str, ...]:
    from .drift import Record

    return ("lambda:UntagResource",) if set(args["kept"]) - set(Record.tags_of(args["entries"])) else ()


OPS: dict[str, Op] = {op: _sdk(op) for op in (
    "iam:CreateRole", "iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:TagRole", "iam:DeleteRolePolicy",
    "iam:DeleteRole",
    "lambda:PublishVersion", "lambda:CreateAlias", "lambda:UpdateAlias", "lambda:TagResource",
    "lambda:AddPermission", "lambda:RemovePermission", "lambda:CreateFunctionUrlConfig",
    "lambda:UpdateFunctionUrlConfig", "lambda:DeleteFunctionUrlConfig", "lambda:CreateEventSourceMapping",
    "lambda:UpdateEventSourceMapping", "lambda:DeleteEventSourceMapping", "lambda:DeleteFunction",
    "apigatewayv2:DeleteApi", "apigatewayv2:UpdateRoute",
    "scheduler:CreateSchedule", "scheduler:UpdateSchedule", "scheduler:DeleteSchedule",
    "sqs:CreateQueue", "sqs:SetQueueAttributes", "sqs:DeleteQueue",
    "s3:PutBucketNotificationConfiguration", "s3:DeleteObject", "logs:DeleteLogGroup",
)} | {
    "lambda.create_function": Op(_create_function, ("lambda:CreateFunction",), before=_upload),
    "lambda.update_code": Op(_update_code, ("lambda:UpdateFunctionCode",), before=_upload),
    "lambda.update_configuration": Op(_update_config, ("lambda:UpdateFunctionConfiguration",)),
    "lambda.replace_permission": Op(_replace_permission, ("lambda:RemovePermission", "lambda:AddPermission")),
    "lambda.store_record": Op(_store_record, ("lambda:TagResource",), after=_untag),
    "apigatewayv2.create_api": Op(_create_api, ("apigatewayv2:CreateApi", "apigatewayv2:CreateIntegration",
                                                "apigatewayv2:CreateRoute", "apigatewayv2:CreateStage")),
    "apigatewayv2.route_to_function": Op(_route_to_function, ("apigatewayv2:CreateIntegration",
                                                              "apigatewayv2:CreateRoute"), after=_stage),
}


def resolve(value: Any, outputs: Mapping[str, Any]) -> Any:
    """Replace references (`context.ref`) with what earlier steps produced."""
    if is_ref(value):
        found: Any = outputs.get(value["$ref"])
        if found is None:
            raise OperationError(f"a planned step needs {value['$ref']}, which no earlier step produced",
                                 fix="plan again: the plan is inconsistent (a bug worth reporting)")
        for part in value.get("path", []):
            found = found[part]
        return str(value.get("format", "{}")).format(found)
    if isinstance(value, dict):
        return {k: resolve(v, outputs) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, outputs) for v in value]
    return value


def execute(aws: Aws, step: Step, outputs: dict[str, Any], progress: Progress) -> None:
    """Run one step through its executor; keep its answer where later steps' references point."""
    progress(f"{step.action} {step.resource}" + (f" ({step.detail})" if step.detail else ""))
    args = resolve(dict(step.args), outputs)
    out = args.pop("$out", None)
    answer = OPS[step.op].run(aws, args)
    if out:
        outputs[out] = answer


def apply_steps(aws: Aws, steps: tuple[Step, ...], progress: Progress) -> dict[str, Any]:
    """Execute every step with an executor, in order; the outputs, for what the deploy reports."""
    outputs: dict[str, Any] = {}
    for step in steps:
        if step.op:
            execute(aws, step, outputs, progress)
    return outputs


def apply(aws: Aws, project: Project, settings: AwsSettings, plan: Plan, build: BuildResult, progress: Progress
          ) -> DeployResult:
    """Run exactly the plan's steps, then record what they made (state cache) and report it."""
    outputs = apply_steps(aws, plan.steps, progress)
    facts = resolve(dict(plan.memo["facts"]), outputs)
    for f in facts.values():
        f["fingerprints"] = drift.Record.value_of(f["fingerprints"])
    endpoints = [Endpoint(fn, str(resolve(url, outputs)), auth)  # type: ignore[arg-type]
                 for fn, url, auth in plan.memo["endpoints"]]
    changed = plan.has_changes
    state = read_state(project, "aws")
    if changed or state.get("digest") != build.digest:
        write_state(project, "aws", {"digest": build.digest, "region": aws.region, "stage": settings.stage,
                                     "functions": facts})
    versions = {name: str(f["version"]) for name, f in facts.items()}
    return DeployResult(
        target="aws", version=build.digest[:12], changed=changed, endpoints=tuple(endpoints),
        details={f"{name}.version": v for name, v in versions.items()}
        | {"changes": str(sum(c.action != "noop" for c in plan.steps))},
    )
