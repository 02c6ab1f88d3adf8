"""The corpus of real Serverless services (tests/corpus/serverless/<name>/) and what the tests do with them.

Each service folder holds the upstream serverless.yml and dependency files, handlers written for this
corpus (the module paths, names and Lambda interface serverless.yml names; never upstream code) and a SOURCE
(YAML): repository, path, commit, licence, and how to check it: `requests` (function, method, path, headers,
body, the status the handler gives, body keys to `ignore` or a regex to `mask` where the answer legitimately
differs between two runs), stand-in `env`, `moto` (DynamoDB tables declared under `resources:` and `queues`
are created in a moto server, which the handlers reach through AWS_ENDPOINT_URL, an environment variable
boto3 reads), `seed` items and `spec_env` (function settings pointed at the stand-ins).
"""

from __future__ import annotations

import base64
import copy
import json
import re
import shutil
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from multicloud.migrate.service import slug
from multicloud.migrate.source import read_service
from multicloud.migrate.variables import Resolver
from multicloud.runtime.server_config import Route
from multicloud.runtime.server_routes import RouteTable

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "corpus" / "serverless"
EVENTS = ROOT / "events" / "aws"


@dataclass
class Request:
    function: str
    method: str
    path: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    ignore: list[str] = field(default_factory=list)
    mask: str = ""
    why: str = ""

    @property
    def key(self) -> str:
        return slug(self.function, "a-z0-9_-", "fn")


@dataclass(eq=False)  # hashed by identity: the corpus tests' module-scoped fixtures are keyed by it
class Service:
    name: str
    meta: dict[str, Any]

    @property
    def folder(self) -> Path:
        return CORPUS / self.name

    @property
    def requests(self) -> list[Request]:
        return [Request(**r) for r in self.meta.get("requests", [])]

    @property
    def env(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in (self.meta.get("env") or {}).items()}

    def copy_to(self, dest: Path) -> Path:
        shutil.copytree(self.folder, dest / self.name)
        return dest / self.name


def services() -> list[Service]:
    return [Service(p.name, yaml.safe_load((p / "SOURCE").read_text()))
            for p in sorted(CORPUS.iterdir()) if (p / "SOURCE").is_file()]


def resolved(folder: Path) -> dict[str, Any]:
    """The service's serverless.yml with its variables resolved (as the importer saw it)."""
    doc = read_service(folder / "serverless.yml")
    out = Resolver(doc, filename="serverless.yml", base_dir=folder, environ={}).resolve()
    return out if isinstance(out, dict) else {}


def payload_of(doc: dict[str, Any], function: str) -> str:
    """The Lambda HTTP payload the function got on AWS: REST (`http` events) 1.0, else (httpApi, url) 2.0."""
    events = ((doc.get("functions") or {}).get(function) or {}).get("events") or []
    if any(isinstance(e, dict) and "http" in e for e in events):
        return "1.0"
    payload = ((doc.get("provider") or {}).get("httpApi") or {}).get("payload")
    return "1.0" if str(payload) in ("1.0", "1") else "2.0"


def reset_moto(endpoint: str) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).read()


def tables(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """CreateTable arguments for every AWS::DynamoDB::Table under resources:."""
    section = doc.get("resources") or {}
    out = []
    for part in section if isinstance(section, list) else [section]:
        for res in (part.get("Resources") or {}).values():
            if isinstance(res, dict) and res.get("Type") == "AWS::DynamoDB::Table":
                props = res.get("Properties") or {}
                out.append({"TableName": props["TableName"], "KeySchema": props["KeySchema"],
                            "AttributeDefinitions": props["AttributeDefinitions"], "BillingMode": "PAY_PER_REQUEST"})
    return out


# ---- Lambda events -----------------------------------------------------------------------------------------
def _route_params(routes: list[str], path: str) -> tuple[str, dict[str, str]]:
    """The route a path matches (static routes first, as API Gateway and the runtime do) and its parameters."""
    match = RouteTable(tuple(Route("f", r, ("GET",), "none") for r in routes)).match("GET", path)
    if match.route is None:
        raise AssertionError(f"{path} matches none of {routes}")
    return match.route.path, match.params


def lambda_event(payload: str, request: Request, routes: list[str], region: str) -> dict[str, Any]:
    """The API Gateway event Lambda would get: aws-sam-cli's sample, with this request's details."""
    raw_path, _, query = request.path.partition("?")
    route, params = _route_params(routes, raw_path)
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    domain = f"abc123.execute-api.{region}.amazonaws.com"
    headers = {"host": domain, "user-agent": "corpus-test", **{k.lower(): v for k, v in request.headers.items()}}
    body = request.body or None
    if payload == "2.0":
        event = json.loads((EVENTS / "apigw-http-api-v2.json").read_text())
        ctx = event["requestContext"]
        for key in ("authorizer", "authentication"):  # the service configures neither
            ctx.pop(key, None)
        event.pop("cookies", None)
        route_key = f"{request.method} {route}" if route != "/{proxy+}" or "{proxy+}" not in routes else "$default"
        event.update(routeKey=route_key, rawPath=raw_path, rawQueryString=query, headers=headers,
                     queryStringParameters={k: ",".join(v for kk, v in pairs if kk == k) for k, _ in pairs} or None,
                     pathParameters=params or None, stageVariables=None, body=body, isBase64Encoded=False)
        ctx.update(routeKey=route_key, domainName=domain, domainPrefix="abc123", stage="$default")
        ctx["http"].update(method=request.method, path=raw_path, sourceIp="203.0.113.7", userAgent="corpus-test")
        for key in [k for k, v in event.items() if v is None]:
            del event[key]
        return event
    event = json.loads((EVENTS / "apigw-rest-v1.json").read_text())
    event.update(resource=route, path=raw_path, httpMethod=request.method, headers=headers,
                 multiValueHeaders={k: [v] for k, v in headers.items()},
                 queryStringParameters={k: v for k, v in pairs} or None,
                 multiValueQueryStringParameters={k: [v for kk, v in pairs if kk == k] for k, _ in pairs} or None,
                 pathParameters=params or None, stageVariables=None, body=body, isBase64Encoded=False)
    ctx = event["requestContext"]
    ctx.pop("authorizer", None)
    ctx.update(resourcePath=route, httpMethod=request.method, path=f"/{ctx.get('stage', 'prod')}{raw_path}",
               domainName=domain)
    return event


@dataclass
class Answer:
    status: int
    body: bytes

    @classmethod
    def from_lambda(cls, result: Any) -> Answer:
        """What API Gateway answers for a Lambda result (a dict with statusCode, or a bare value: 200 JSON)."""
        if isinstance(result, dict) and "statusCode" in result:
            body = result.get("body")
            data = b"" if body is None else base64.b64decode(body) if result.get("isBase64Encoded") else (
                body if isinstance(body, str) else json.dumps(body)).encode()
            return cls(int(result["statusCode"]), data)
        return cls(200, json.dumps(result).encode())


def comparable(answer: Answer, request: Request) -> tuple[int, Any]:
    text = answer.body.decode("utf-8", errors="replace")
    if request.mask:
        text = re.sub(request.mask, "<masked>", text)
    try:
        data = json.loads(text)
    except ValueError:
        return answer.status, text
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k not in request.ignore}
    return answer.status, copy.deepcopy(data)
