"""CloudFormation as a Serverless service uses it: which queue, stream or table an event's `arn` points at.

An event source may be written as a literal ARN (`arn:aws:sqs:eu-west-1:123:orders`), a reference to a
resource declared under `resources:` (`Fn::GetAtt: [Orders, Arn]`, `!Ref Orders`), or a string built with
`Fn::Join` / `Fn::Sub` from pseudo parameters (`${AWS::Region}`, `${AWS::AccountId}`) and literal parts.
`Resources.target(value)` turns each of these into a `Target`: the resource's real name where the file says
it (`QueueName`, `Name`, `TableName`), else what the ARN ends with, else why it cannot be known. Nothing is
evaluated that would need AWS: an unknown part stays unknown and is reported as such.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

PSEUDO = re.compile(r"\$\{AWS::[A-Za-z]+\}")
UNKNOWN = "\x01"  # stands for a part only CloudFormation knows (account id, region of the stack...)

QUEUE = "AWS::SQS::Queue"
STREAM = "AWS::Kinesis::Stream"
TABLE = "AWS::DynamoDB::Table"
BUCKET = "AWS::S3::Bucket"
TOPIC = "AWS::SNS::Topic"


@dataclass(frozen=True)
class Resource:
    logical_id: str
    type: str
    properties: dict[str, Any]


@dataclass(frozen=True)
class Target:
    """What an event source reference names."""

    service: str | None  # "sqs", "kinesis", "dynamodb", ... (from the ARN or the resource type)
    name: str | None  # the queue/stream/table name, when it can be known
    resource: Resource | None = None  # the declared resource it points at, if any
    problem: str = ""  # why the name is unknown


def is_intrinsic(value: Any) -> bool:
    """A CloudFormation function or reference (`{"Ref": ...}`, `{"Fn::GetAtt": ...}`...)."""
    return isinstance(value, dict) and len(value) == 1 and (
        next(iter(value)) == "Ref" or str(next(iter(value))).startswith("Fn::"))


class Resources:
    def __init__(self, resources: dict[str, Resource]) -> None:
        self.by_id = resources

    @classmethod
    def from_section(cls, section: Any) -> Resources:
        """`resources:` as a mapping or a list of mappings (each with `Resources`, `Outputs`...)."""
        found: dict[str, Resource] = {}
        for part in section if isinstance(section, list) else [section]:
            block = part.get("Resources") if isinstance(part, dict) else None
            if not isinstance(block, dict):
                continue
            for logical_id, body in block.items():
                if isinstance(body, dict):
                    props = body.get("Properties")
                    found[logical_id] = Resource(logical_id, str(body.get("Type", "")),
                                                 props if isinstance(props, dict) else {})
        return cls(found)

    # ---- names -----------------------------------------------------------------------------------------
    def text(self, value: Any) -> str | None:
        """A string value with unknown parts as UNKNOWN; None when it is not a string at all."""
        if isinstance(value, str):
            return PSEUDO.sub(UNKNOWN, value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        if not is_intrinsic(value):
            return None
        fn, arg = next(iter(value.items()))
        if fn == "Fn::Join" and isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], list):
            sep = arg[0] if isinstance(arg[0], str) else ""
            parts = [self.text(p) for p in arg[1]]
            return sep.join(UNKNOWN if p is None else p for p in parts)
        if fn == "Fn::Sub":
            template, variables = (arg[0], arg[1]) if isinstance(arg, list) and len(arg) == 2 else (arg, {})
            if not isinstance(template, str):
                return None
            variables = variables if isinstance(variables, dict) else {}

            def sub(match: re.Match[str]) -> str:
                name = match.group(1)
                if name in variables:
                    return self.text(variables[name]) or UNKNOWN
                return UNKNOWN

            return re.sub(r"\$\{([^}!]+)\}", sub, template)
        if fn == "Ref" and isinstance(arg, str):
            res = self.by_id.get(arg)
            if res is not None and res.type in (BUCKET, STREAM, TABLE):  # Ref gives the name
                return self.declared_name(res) or UNKNOWN
        return UNKNOWN

    def declared_name(self, res: Resource) -> str | None:
        key = {QUEUE: "QueueName", STREAM: "Name", TABLE: "TableName", BUCKET: "BucketName",
               TOPIC: "TopicName"}.get(res.type)
        if key is None or key not in res.properties:
            return None
        name = self.text(res.properties[key])
        return name if name and UNKNOWN not in name and "${" not in name else None

    # ---- event sources ----------------------------------------------------------------------------------
    def target(self, value: Any) -> Target:
        if is_intrinsic(value):
            fn, arg = next(iter(value.items()))
            logical = None
            if fn == "Fn::GetAtt":
                parts = arg.split(".", 1) if isinstance(arg, str) else arg
                if isinstance(parts, list) and parts and isinstance(parts[0], str):
                    logical = parts[0]
            elif fn == "Ref" and isinstance(arg, str):
                logical = arg
            if logical is not None:
                return self._resource_target(logical)
            if fn == "Fn::ImportValue":
                return Target(None, None, problem="it is an export of another CloudFormation stack "
                                                  "(Fn::ImportValue)")
        text = self.text(value)
        if text is None:
            return Target(None, None, problem=f"{_short(value)} is not an ARN or a resource reference")
        return arn_target(text)

    def _resource_target(self, logical: str) -> Target:
        res = self.by_id.get(logical)
        if res is None:
            return Target(None, None, problem=f"resource {logical!r} is not declared under resources:")
        service = {QUEUE: "sqs", STREAM: "kinesis", TABLE: "dynamodb", TOPIC: "sns", BUCKET: "s3"}.get(res.type)
        name = self.declared_name(res)
        if res.type == QUEUE and name is None and "QueueName" not in res.properties:
            fifo = res.properties.get("FifoQueue") in (True, "true")
            return Target(service, logical + (".fifo" if fifo else ""), res,
                          problem="CloudFormation generated its name (no QueueName)")
        if res.type == STREAM and name is None and "Name" not in res.properties:
            return Target(service, logical, res, problem="CloudFormation generated its name (no Name)")
        if name is None:
            return Target(service, None, res, problem=f"the name of {res.type} {logical!r} cannot be known "
                                                      "before deploying")
        return Target(service, name, res)


ARN = re.compile(r"^arn:[^:]*:([^:]*):[^:]*:[^:]*:(.*)$", re.S)


def arn_target(arn: str) -> Target:
    """`arn:aws:sqs:r:a:name` -> sqs/name; `...:kinesis:...:stream/name[/consumer/..]` -> kinesis/name."""
    match = ARN.match(arn)
    if match is None:
        return Target(None, None, problem=f"{_short(arn)} is not an ARN")
    service, rest = match.group(1), match.group(2)
    if service == "kinesis":
        name = rest.split("/")[1] if rest.startswith("stream/") and "/" in rest else None
    elif service == "dynamodb":
        name = rest.split("/")[1] if rest.startswith("table/") and "/" in rest else None
    else:
        name = rest.rsplit(":", 1)[-1]
    if not name or UNKNOWN in name or "${" in name:
        return Target(service or None, None, problem=f"the name in {_short(arn)} is not known before deploying")
    return Target(service or None, name)


def _short(value: Any) -> str:
    text = repr(value).replace(UNKNOWN, "?")
    return text if len(text) <= 80 else text[:77] + "..."
