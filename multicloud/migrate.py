"""`multicloud import serverless.yml`: convert a Serverless Framework (AWS) service to `multicloud.yaml`.

Converted: service, provider runtime/memory/timeout/environment/region/stage/architecture, functions
with handler, memory, timeout, environment and the events httpApi, http, schedule, sqs, s3 and kinesis
streams. `${ssm:/path}` environment values become `ssm:` secret references. Everything else is listed
in `notes`, plainly, instead of being dropped in silence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from multicloud.errors import SpecError
from multicloud.spec.models import RUNTIMES

VAR = re.compile(r"\$\{([^}]+)\}")
RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
CRON = re.compile(r"^cron\((.+)\)$")


@dataclass
class Conversion:
    spec: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def to_yaml(self) -> str:
        header = "# Converted from serverless.yml by `multicloud import`.\n"
        if self.notes:
            header += "# Not converted (review these):\n" + "".join(f"#  - {n}\n" for n in self.notes)
        return header + yaml.safe_dump(self.spec, sort_keys=False, default_flow_style=False)


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short-form tags (`!GetAtt X.Arn`, `!Ref X`) as {"Fn::GetAtt": ...} data."""


def _cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node)
    else:
        value = loader.construct_mapping(node)  # type: ignore[arg-type]
    name = suffix if suffix == "Ref" else f"Fn::{suffix}"
    return {name: value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


def convert_file(path: Path) -> Conversion:
    from multicloud.spec.loader import check_bounded, decode_spec, read_spec_bytes

    text = decode_spec(read_spec_bytes(path), str(path))  # a regular UTF-8 file of at most 1 MB, or exit 2
    try:
        check_bounded(text, str(path))  # alias bombs, deep nesting: refused before anything is built
        doc = yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    except FileNotFoundError as exc:
        raise SpecError("file not found", fix="pass the path of serverless.yml", where=str(path)) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise SpecError(f"invalid YAML: {getattr(exc, 'problem', exc)}", fix="fix the file's syntax",
                        where=where) from None
    if not isinstance(doc, dict):
        raise SpecError("not a Serverless Framework service (expected a mapping)", where=str(path))
    return convert(doc, str(path))


def _slug(text: str, pattern: str = r"[^a-z0-9-]+") -> str:
    return re.sub(pattern, "-", text.lower()).strip("-") or "service"


def convert(doc: dict[str, Any], filename: str = "serverless.yml") -> Conversion:
    notes: list[str] = []
    provider = doc.get("provider") or {}
    if not isinstance(provider, dict) or provider.get("name", "aws") != "aws":
        raise SpecError("only AWS Serverless Framework services can be imported",
                        fix="set provider.name: aws, or write multicloud.yaml by hand", where=filename)
    name = doc.get("service")
    if isinstance(name, dict):
        name = name.get("name")
    if not isinstance(name, str) or VAR.search(name):
        notes.append(f"service name {name!r} is not a plain string: used 'service' instead")
        name = "service"
    spec: dict[str, Any] = {"service": _slug(name)[:40]}

    runtime = provider.get("runtime", "python3.11")
    if runtime not in RUNTIMES:
        if str(runtime).startswith("python"):
            notes.append(f"runtime {runtime} is not supported: used python3.11")
            runtime = "python3.11"
        else:
            raise SpecError(f"runtime {runtime!r} is not Python", fix="multicloud deploys Python functions",
                            where=f"{filename}: provider.runtime")
    spec["runtime"] = runtime

    aws: dict[str, Any] = {}
    if isinstance(provider.get("region"), str) and not VAR.search(provider["region"]):
        aws["region"] = provider["region"]
    if provider.get("architecture") in ("x86_64", "arm64"):
        aws["architecture"] = provider["architecture"]
    stage = provider.get("stage")
    if isinstance(stage, str) and re.fullmatch(r"[a-z0-9-]{1,16}", stage):
        aws["stage"] = stage
    for key in ("iam", "iamRoleStatements", "vpc", "layers", "apiGateway", "httpApi", "tracing", "logs"):
        if key in provider:
            notes.append(f"provider.{key}: not converted (multicloud derives least-privilege IAM and "
                         "routing from the triggers)")
    if "resources" in doc:
        notes.append("resources: CloudFormation resources are not converted; create them separately")
    for plugin in doc.get("plugins") or []:
        notes.append(f"plugin {plugin}: not converted (dependencies come from requirements.txt)")

    functions: dict[str, Any] = {}
    for fname, fdef in (doc.get("functions") or {}).items():
        if not isinstance(fdef, dict):
            notes.append(f"functions.{fname}: not a mapping, skipped")
            continue
        key = _slug(str(fname), r"[^a-z0-9_-]+")[:40]
        fn: dict[str, Any] = {"handler": fdef.get("handler", "")}
        mem = fdef.get("memorySize", provider.get("memorySize"))
        if isinstance(mem, int):
            fn["memory"] = mem
        tmo = fdef.get("timeout", provider.get("timeout"))
        if isinstance(tmo, int):
            fn["timeout"] = tmo
        env, secrets = _environment({**(provider.get("environment") or {}), **(fdef.get("environment") or {})},
                                    f"functions.{fname}", notes)
        if env:
            fn["env"] = env
        if secrets:
            fn["secrets"] = secrets
        triggers = []
        for index, event in enumerate(fdef.get("events") or []):
            converted = _event(event, f"functions.{fname}.events[{index}]", notes)
            if converted:
                triggers.append(converted)
        if triggers:
            fn["triggers"] = triggers
        functions[key] = fn
    if not functions:
        raise SpecError("the service has no functions", where=filename)
    spec["functions"] = functions
    spec["targets"] = {"aws": aws}
    return Conversion(spec, notes)


def _environment(env: dict[str, Any], where: str, notes: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    plain: dict[str, str] = {}
    secrets: dict[str, str] = {}
    for key, value in env.items():
        text = str(value)
        ssm = re.fullmatch(r"\$\{ssm:(/[^},~]+)(?:~true)?\}", text)
        if ssm:
            secrets[key] = f"ssm:{ssm.group(1)}"
        elif VAR.search(text):
            notes.append(f"{where}.environment.{key}: variable {text!r} not resolved; set it by hand")
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(key)):
            plain[key] = text
        else:
            notes.append(f"{where}.environment.{key}: not a valid variable name")
    return plain, secrets


def _event(event: Any, where: str, notes: list[str]) -> dict[str, Any] | None:
    if not isinstance(event, dict) or len(event) != 1:
        notes.append(f"{where}: unrecognised event, skipped")
        return None
    kind, body = next(iter(event.items()))
    handler = _EVENTS.get(kind)
    if handler is None:
        notes.append(f"{where}: '{kind}' events have no portable equivalent, skipped")
        return None
    return handler(body, where, notes)


def _http_api(body: Any, where: str, notes: list[str]) -> dict[str, Any] | None:
    if body == "*":
        notes.append(f"{where}: catch-all httpApi '*' became GET/POST on /")
        return {"http": {"path": "/", "methods": ["GET", "POST"]}}
    if isinstance(body, str):
        method, _, path = body.partition(" ")
    elif isinstance(body, dict):
        method, path = str(body.get("method", "GET")), str(body.get("path", "/"))
        if body.get("authorizer"):
            notes.append(f"{where}: authorizer not converted; the function uses auth: key instead")
    else:
        notes.append(f"{where}: unrecognised httpApi event")
        return None
    return _route(method, path, bool(isinstance(body, dict) and body.get("authorizer")), where, notes)


def _http(body: Any, where: str, notes: list[str]) -> dict[str, Any] | None:
    if isinstance(body, str):
        method, _, path = body.partition(" ")
        private = False
    elif isinstance(body, dict):
        method, path = str(body.get("method", "GET")), str(body.get("path", "/"))
        private = bool(body.get("private"))
        for extra in ("cors", "request", "authorizer"):
            if extra in body:
                notes.append(f"{where}: http.{extra} not converted")
    else:
        notes.append(f"{where}: unrecognised http event")
        return None
    return _route(method, path, private, where, notes)


def _route(method: str, path: str, keyed: bool, where: str, notes: list[str]) -> dict[str, Any]:
    path = "/" + path.strip().lstrip("/")
    path = re.sub(r"\{([A-Za-z_][A-Za-z0-9_]*)\+\}", r"{\1}", path)
    method = method.strip().upper()
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"] if method in ("*", "ANY") else [method]
    trigger: dict[str, Any] = {"path": path, "methods": methods}
    if keyed:
        trigger["auth"] = "key"
    return {"http": trigger}


def _schedule(body: Any, where: str, notes: list[str]) -> dict[str, Any] | None:
    expr = body.get("rate") if isinstance(body, dict) else body
    if isinstance(expr, list):
        if len(expr) > 1:
            notes.append(f"{where}: only the first of {len(expr)} schedule expressions was converted")
        expr = expr[0] if expr else None
    if isinstance(body, dict) and body.get("input"):
        notes.append(f"{where}: schedule input not converted")
    if not isinstance(expr, str):
        notes.append(f"{where}: unrecognised schedule")
        return None
    rate = RATE.match(expr.strip())
    if rate:
        return {"schedule": {"rate": f"{rate.group(1)}{rate.group(2)[0]}"}}
    cron = CRON.match(expr.strip())
    if cron:
        fields = cron.group(1).split()
        if len(fields) == 6:
            fields = fields[:5]  # AWS cron has a year field
        fields = ["*" if f == "?" else f for f in fields]
        if len(fields) == 5:
            return {"schedule": {"cron": " ".join(fields)}}
    notes.append(f"{where}: schedule {expr!r} not understood")
    return None


def _arn_name(arn: Any, where: str, notes: list[str]) -> str | None:
    if isinstance(arn, str) and arn.startswith("arn:"):
        return arn.rsplit(":", 1)[-1].split("/")[-1]
    notes.append(f"{where}: arn {arn!r} is not a literal ARN (CloudFormation reference?): set the name by hand")
    return None


def _sqs(body: Any, where: str, notes: list[str]) -> dict[str, Any] | None:
    arn = body.get("arn") if isinstance(body, dict) else body
    name = _arn_name(arn, where, notes)
    if not name:
        return None
    trigger: dict[str, Any] = {"name": name}
    if isinstance(body, dict) and isinstance(body.get("batchSize"), int):
        trigger["batch_size"] = body["batchSize"]
    return {"queue": trigger}


def _stream(body: Any, where: str, notes: list[str]) -> dict[str, Any] | None:
    arn = body.get("arn") if isinstance(body, dict) else body
    kind = body.get("type") if isinstance(body, dict) else None
    if kind == "dynamodb" or (isinstance(arn, str) and ":dynamodb:" in arn):
        notes.append(f"{where}: DynamoDB streams have no portable equivalent, skipped")
        return None
    name = _arn_name(arn, where, notes)
    if not name:
        return None
    trigger: dict[str, Any] = {"name": name}
    if isinstance(body, dict):
        if isinstance(body.get("batchSize"), int):
            trigger["batch_size"] = body["batchSize"]
        pos = str(body.get("startingPosition", "LATEST")).lower()
        if pos in ("latest", "trim_horizon"):
            trigger["starting_position"] = pos
        else:
            notes.append(f"{where}: startingPosition {pos} became latest")
    return {"stream": trigger}


def _s3(body: Any, where: str, notes: list[str]) -> dict[str, Any] | None:
    bucket = body.get("bucket") if isinstance(body, dict) else body
    if not isinstance(bucket, str) or VAR.search(bucket):
        notes.append(f"{where}: bucket {bucket!r} is not a plain name")
        return None
    trigger: dict[str, Any] = {"bucket": bucket}
    if isinstance(body, dict):
        event = str(body.get("event", "s3:ObjectCreated:*"))
        if event.startswith("s3:ObjectRemoved"):
            trigger["events"] = ["deleted"]
        elif not event.startswith("s3:ObjectCreated"):
            notes.append(f"{where}: S3 event {event} became 'created'")
        for rule in body.get("rules") or []:
            if isinstance(rule, dict):
                trigger.update({k: str(v) for k, v in rule.items() if k in ("prefix", "suffix")})
        if body.get("existing"):
            notes.append(f"{where}: bucket {bucket} already exists: multicloud merges its notification")
    return {"storage": trigger}


_EVENTS = {"httpApi": _http_api, "http": _http, "schedule": _schedule, "sqs": _sqs, "stream": _stream,
           "s3": _s3}
