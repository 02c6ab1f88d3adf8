"""What Lambda would refuse at deploy time, found by `validate` (exit 2, located) instead.

Lambda rejects reserved environment variable names, names outside its key pattern, an environment over
4 KB (keys and values, with the `MULTICLOUD_SECRETS` references multicloud adds) and a description over
256 characters; and two
functions whose `<service>-<stage>-<function>` names agree in their first 64 characters would be one
Lambda function (names are cut to Lambda's 64).
"""

from __future__ import annotations

import json
import re

from multicloud.errors import SpecError
from multicloud.project import Project

from .names import SECRETS_ENV, Names
from .settings import AwsSettings
from .triggers import schedule_expression

#: set by the Lambda runtime; CreateFunction/UpdateFunctionConfiguration refuse them
RESERVED_ENV = frozenset({
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "TZ", SECRETS_ENV,
})
#: Lambda's key pattern for environment variables (stricter than POSIX: a letter first, two characters)
LAMBDA_ENV_KEY = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]+$")
ENV_LIMIT_BYTES = 4096
DESCRIPTION_LIMIT = 256


def check(project: Project, settings: AwsSettings) -> list[SpecError]:
    errors: list[SpecError] = []
    owners: dict[str, str] = {}
    for fn in project.functions_for("aws"):
        base: tuple[str | int, ...] = ("functions", fn.name)
        for index, trigger in enumerate(fn.triggers):
            if trigger.schedule is not None:
                where = project.locate(base + ("triggers", index, "schedule", "cron"))
                try:
                    schedule_expression(trigger.schedule, str(where))
                except SpecError as exc:
                    errors.append(SpecError(exc.what, fix=exc.fix, where=where))
        for name in sorted((set(fn.env) | set(fn.secrets)) & RESERVED_ENV):
            field = "secrets" if name in fn.secrets else "env"
            errors.append(SpecError(f"{name} is an environment variable Lambda (or multicloud) sets itself; "
                                    "Lambda refuses it", fix="rename the variable",
                                    where=project.locate(base + (field, name))))
        for name in sorted(set(fn.env) | set(fn.secrets)):
            if not LAMBDA_ENV_KEY.match(name):
                field = "secrets" if name in fn.secrets else "env"
                errors.append(SpecError(f"Lambda refuses the environment variable name {name!r}",
                                        fix="start it with a letter and give it at least two characters "
                                            "(letters, digits, _)", where=project.locate(base + (field, name))))
        env = dict(fn.env)
        if fn.secrets:
            env[SECRETS_ENV] = json.dumps(fn.secrets, sort_keys=True)
        size = sum(len(k.encode()) + len(v.encode()) for k, v in env.items())
        if size > ENV_LIMIT_BYTES:
            errors.append(SpecError(f"the environment of {fn.name} is {size} bytes; Lambda allows 4 KB in all",
                                    fix="move large values to a file in the service folder or a parameter store",
                                    where=project.locate(base + ("env",))))
        if len(fn.description) > DESCRIPTION_LIMIT:
            errors.append(SpecError(f"the description of {fn.name} is {len(fn.description)} characters; Lambda "
                                    f"takes at most {DESCRIPTION_LIMIT}", fix="shorten it",
                                    where=project.locate(base + ("description",))))
        lambda_name = Names(project.name, settings.stage, fn.name).lambda_name
        if lambda_name in owners:
            errors.append(SpecError(f"functions {owners[lambda_name]!r} and {fn.name!r} would both be the Lambda "
                                    f"function {lambda_name!r} (names are cut to 64 characters)",
                                    fix="shorten the service, stage or function names so they differ earlier",
                                    where=project.locate(base)))
        owners[lambda_name] = fn.name
    return errors
