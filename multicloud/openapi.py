"""An OpenAPI 3.1 document of a service's HTTP functions, and curl examples drawn from it.

`multicloud openapi PATH [--target T]` prints it. Paths, methods and path parameters come from the spec;
security schemes from how each target guards a route (`multicloud.endpoints.AUTH_RULES`); `servers` from
the live endpoints when the service is deployed (an endpoints manifest). A function of a hybrid service
that lives on only some of the targets carries its own `servers`. Each operation says which target asks
for which scheme in `x-multicloud-targets`, so a tool (or `curl_examples`) can pick the right one.

Handlers may answer any JSON, text or bytes, so responses are documented by what the runtime itself
answers (401, 413, 429, 500, 504) plus a `default` for the handler's own answer.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from multicloud.endpoints import http_routes, preference, route_auth
from multicloud.project import Project

OPENAPI_VERSION = "3.1.0"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
PARAM_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(\+?)\}")

# The manifest's auth objects as OpenAPI security schemes: (scheme name, scheme object).
SCHEMES: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {
    ("key", "X-Multicloud-Key"): ("multicloud_key", {
        "type": "apiKey", "in": "header", "name": "X-Multicloud-Key",
        "description": "The private runtime's key (also accepted as `Authorization: Bearer KEY`)."}),
    ("key", "x-functions-key"): ("azure_function_key", {
        "type": "apiKey", "in": "header", "name": "x-functions-key",
        "description": "An Azure Functions function key (also accepted as the `code` query parameter)."}),
    ("iam", "aws-sigv4"): ("aws_sigv4", {
        "type": "apiKey", "in": "header", "name": "Authorization", "x-amazon-apigateway-authtype": "awsSigv4",
        "description": "AWS Signature Version 4 of the caller's IAM identity (service `lambda`)."}),
    ("iam", "google-id-token"): ("google_id_token", {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": "A Google identity token whose audience is the function's URL."}),
}
ERROR = {"$ref": "#/components/schemas/Error"}
# What the runtime itself answers, shared by every operation through components.responses.
RUNTIME_ANSWERS: dict[str, tuple[str, str]] = {
    "401": ("Unauthorized", "the key or signature is missing or wrong (AWS answers 403)"),
    "413": ("TooLarge", "the body is larger than the target accepts"),
    "429": ("Busy", "every instance is busy and the wait queue is full (retry after `Retry-After`)"),
    "500": ("HandlerError", "the handler raised (no traceback is sent)"),
    "504": ("Timeout", "the handler ran past its timeout"),
}
HANDLER_ANSWER = {"description": "The handler's answer: a dict or list as JSON, a string as text, bytes as "
                  "application/octet-stream, or a Response as it sets.",
                  "content": {"application/json": {"schema": {}}, "text/plain": {"schema": {"type": "string"}}}}


def scheme_of(auth: Mapping[str, str]) -> tuple[str, dict[str, Any]] | None:
    """(name, OpenAPI scheme) of a manifest auth object; None for `none`."""
    kind = auth.get("type", "none")
    if kind == "none":
        return None
    found = SCHEMES.get((kind, auth.get("header") or auth.get("scheme") or ""))
    if found is not None:
        return found
    name = re.sub(r"[^A-Za-z0-9_]", "_", f"{kind}_{auth.get('header') or auth.get('scheme')}").lower()
    scheme: dict[str, Any] = {"type": "apiKey", "in": "header", "name": auth.get("header") or "Authorization"}
    return name, scheme


def _parameters(path: str) -> list[dict[str, Any]]:
    out = []
    for name, greedy in PARAM_RE.findall(path):
        param: dict[str, Any] = {"name": name, "in": "path", "required": True,
                                 "schema": {"type": "string", "minLength": 1},
                                 "example": "path/to/item" if greedy else "1"}
        if greedy:
            param["description"] = "The rest of the path: may hold several segments."
            param["x-multicloud-greedy"] = True
        out.append(param)
    return out


def _route_key(path: str) -> str:
    return PARAM_RE.sub("{}", path)


def _servers(manifest: Mapping[str, Any] | None, function: str, targets: Sequence[str]) -> list[dict[str, str]]:
    if manifest is None:
        return []
    entries = (manifest.get("functions", {}).get(function) or {}).get("targets") or []
    return [{"url": e["url"], "description": e["target"]} for e in entries if e.get("url") and e["target"] in targets]


def openapi_document(project: Project, targets: Sequence[str],
                     manifest: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The document for the functions placed on `targets` (servers from `manifest` when given)."""
    paths: dict[str, dict[str, Any]] = {}
    by_key: dict[str, str] = {}  # /orders/{} -> the first template seen, so equal templates share a path
    schemes: dict[str, dict[str, Any]] = {}
    all_servers: list[dict[str, str]] = []
    op_servers: dict[str, list[dict[str, str]]] = {}
    for name, function in project.spec.functions.items():
        order = preference(project, name, targets)
        if not order:
            continue
        resolved = {t: project.function(t, name) for t in order}
        servers = _servers(manifest, name, order)
        for server in servers:
            if server not in all_servers:
                all_servers.append(server)
        routes = http_routes(resolved[order[0]])
        counts: dict[str, int] = {}
        for index, route in enumerate(routes):
            template = by_key.setdefault(_route_key(route.path), route.path)
            item = paths.setdefault(PARAM_RE.sub(r"{\1}", template), {})
            auth_by_target = {t: route_auth(project, t, resolved[t], route) for t in order}
            security: list[dict[str, list[str]]] = []
            per_target: dict[str, str | None] = {}
            for target, auth in auth_by_target.items():
                found = scheme_of(auth)
                per_target[target] = found[0] if found else None
                requirement: dict[str, list[str]] = {found[0]: []} if found else {}
                if found:
                    schemes[found[0]] = {**found[1], "x-multicloud-targets": sorted(
                        {*schemes.get(found[0], {}).get("x-multicloud-targets", ()), target})}
                if requirement not in security:
                    security.append(requirement)
            for method in route.methods:
                counts[method] = counts.get(method, 0) + 1
                op_id = f"{name}_{method.lower()}" + (f"_{index}" if counts[method] > 1 else "")
                op: dict[str, Any] = {
                    "operationId": op_id,
                    "summary": f"{name}: {method} {route.path}",
                    "tags": [name],
                    "x-multicloud-function": name,
                    "x-multicloud-targets": per_target,
                }
                if function.description:
                    op["description"] = function.description
                if template != route.path:
                    op["x-multicloud-route"] = route.path
                params = _parameters(template)
                if params:
                    op["parameters"] = params
                if method in BODY_METHODS:
                    op["requestBody"] = {"required": False, "content": {
                        "application/json": {"schema": {}},
                        "text/plain": {"schema": {"type": "string"}},
                        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}
                op["security"] = security
                op["responses"] = _responses(any(per_target.values()))
                item[method.lower()] = op
                op_servers[op_id] = servers
    _intake_operations(project, targets, manifest, paths, schemes, op_servers, all_servers)
    doc: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {"title": project.name, "version": _version(paths),
                 "description": project.spec.description or f"HTTP functions of the multicloud service "
                 f"{project.name}, on {', '.join(targets)}."},
    }
    if all_servers:
        doc["servers"] = all_servers
        for item in paths.values():
            for op in item.values():
                own = op_servers[op["operationId"]]
                if own and own != all_servers:
                    op["servers"] = own
    doc["paths"] = paths
    doc["components"] = _components(schemes)
    return doc


INTAKE_ANSWERS: dict[str, str] = {
    "400": "an attribute header that cannot travel (name or value)",
    "401": "the key is missing or wrong",
    "404": "no function reads this queue or stream on the target",
    "413": "the message is larger than the broker takes (1 MB) or the runtime's body limit",
    "503": "the broker is not connected: nothing was stored (try another target)",
    "504": "the broker did not confirm in time: the message may have been stored (do not resend blindly)",
}


def _intake_operations(project: Project, targets: Sequence[str], manifest: Mapping[str, Any] | None,
                       paths: dict[str, dict[str, Any]], schemes: dict[str, dict[str, Any]],
                       op_servers: dict[str, list[dict[str, str]]], all_servers: list[dict[str, str]]) -> None:
    """`POST /_queues/<q>` and `/_streams/<s>`: the private runtime's HTTP intake (multicloud/runtime/intake.py)
    for each queue and stream a function reads on a private target whose runtime holds the service's key."""
    from urllib.parse import quote

    from multicloud.endpoints import AUTH_RULES, INTAKE_PATHS, PRIVATE_FIRST
    from multicloud.private_runtime import holds_key

    found = scheme_of(AUTH_RULES["local"].key)
    assert found is not None
    for kind in ("queue", "stream"):
        names: dict[str, tuple[str, list[str]]] = {}  # channel -> (reading function, targets)
        for target in [t for t in PRIVATE_FIRST if t in targets and holds_key(project, t)]:
            for channel, fns in project.channels_for(target, kind).items():
                names.setdefault(channel, (fns[0].name, []))[1].append(target)
        for channel, (function, on) in sorted(names.items()):
            path = INTAKE_PATHS[kind] + quote(channel, safe="")
            op_id = f"send_{kind}_" + re.sub(r"[^A-Za-z0-9_]", "_", channel)
            schemes[found[0]] = {**found[1], "x-multicloud-targets": sorted(
                {*schemes.get(found[0], {}).get("x-multicloud-targets", ()), *on})}
            paths[path] = {"post": {
                "operationId": op_id,
                "summary": f"put a message on the {kind} {channel} (read by {function})",
                "description": "The private runtime's HTTP intake: the body is the message, as sent. Attributes "
                               "travel as `X-Multicloud-Attr-<name>` headers (names lower-cased, values printable "
                               "ASCII). Always behind the service's key.",
                "tags": ["messages"],
                "x-multicloud-function": function,
                f"x-multicloud-{kind}": channel,
                "x-multicloud-targets": {t: found[0] for t in on},
                "requestBody": {"required": True, "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                    "application/json": {"schema": {}}, "text/plain": {"schema": {"type": "string"}}}},
                "security": [{found[0]: []}],
                "responses": {
                    "202": {"description": "stored by the broker", "content": {"application/json": {"schema": {
                        "type": "object", "required": [kind, "seq"],
                        "properties": {kind: {"type": "string"}, "seq": {"type": "integer"}}}}}},
                    **{code: {"description": text, "content": {"application/json": {"schema": ERROR}}}
                       for code, text in INTAKE_ANSWERS.items()}},
            }}
            servers = _intake_servers(manifest, kind, channel, on)
            for server in servers:
                if server not in all_servers:
                    all_servers.append(server)
            op_servers[op_id] = servers


def _intake_servers(manifest: Mapping[str, Any] | None, kind: str, channel: str, on: Sequence[str]
                    ) -> list[dict[str, str]]:
    from multicloud.endpoints import INTAKE_PATHS

    if manifest is None:
        return []
    suffix = INTAKE_PATHS[kind].rstrip("/")
    entries = ((manifest.get(f"{kind}s") or {}).get(channel) or {}).get("send") or []
    return [{"url": str(e["url"]).rsplit(suffix, 1)[0], "description": e["target"]}
            for e in entries if e.get("url") and e["target"] in on]


def _responses(guarded: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"default": {"$ref": "#/components/responses/HandlerAnswer"}}
    for code, (name, _text) in RUNTIME_ANSWERS.items():
        if code != "401" or guarded:
            out[code] = {"$ref": f"#/components/responses/{name}"}
    return dict(sorted(out.items()))


def _components(schemes: Mapping[str, Any]) -> dict[str, Any]:
    responses: dict[str, Any] = {"HandlerAnswer": HANDLER_ANSWER}
    for name, text in RUNTIME_ANSWERS.values():
        responses[name] = {"description": text, "content": {"application/json": {"schema": ERROR}}}
    return {"schemas": {"Error": {"type": "object", "required": ["error"],
                                  "properties": {"error": {"type": "string"}}}},
            "responses": responses, "securitySchemes": dict(sorted(schemes.items()))}


def _version(paths: Mapping[str, Any]) -> str:
    """A version that changes exactly when the HTTP surface does (routes, methods, auth)."""
    surface = {p: {m: [op.get("x-multicloud-targets"), op.get("parameters")] for m, op in item.items()}
               for p, item in paths.items()}
    digest = hashlib.sha256(json.dumps(surface, sort_keys=True).encode()).hexdigest()[:12]
    return f"0.0.0+{digest}"


# ---- curl ----------------------------------------------------------------------------------------------
def _credential_args(scheme_name: str | None, scheme: Mapping[str, Any], target: str) -> list[str]:
    if scheme_name is None:
        return []
    if scheme.get("x-amazon-apigateway-authtype") == "awsSigv4":
        return ["--aws-sigv4", "aws:amz:$AWS_REGION:lambda", "--user", "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY"]
    if scheme.get("type") == "http" and scheme.get("scheme") == "bearer":
        return ["-H", "Authorization: Bearer $(gcloud auth print-identity-token)"]
    return ["-H", f"{scheme.get('name')}: $MULTICLOUD_KEY_{target.upper()}"]


def _describe(scheme_name: str | None, scheme: Mapping[str, Any]) -> str:
    if scheme_name is None:
        return "no auth"
    if scheme.get("x-amazon-apigateway-authtype") == "awsSigv4":
        return "AWS SigV4"
    if scheme.get("type") == "http":
        return "identity token"
    return f"key in {scheme.get('name')}"


def _shell(args: list[str]) -> str:
    """Join for the shell, keeping $VARIABLES and $(commands) expandable (double quotes)."""
    out = []
    for arg in args:
        if re.fullmatch(r"[A-Za-z0-9_./:=-]+", arg):
            out.append(arg)
        elif "'" not in arg and "$" not in arg:
            out.append(shlex.quote(arg))
        else:
            out.append('"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return " ".join(out)


def curl_examples(doc: Mapping[str, Any]) -> str:
    """One curl command per operation and target, from the document alone. The base URL of target T is
    `$T_URL` (for example `$DOCKER_URL`: a `url` of the endpoints manifest or a server of the document);
    keys come from `$MULTICLOUD_KEY_<TARGET>`, the variable the clients read too."""
    schemes = doc.get("components", {}).get("securitySchemes", {})
    lines: list[str] = []
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            concrete = path
            for param in op.get("parameters", []):
                if param.get("in") == "path":
                    concrete = concrete.replace("{" + param["name"] + "}", str(param.get("example", "1")))
            for target, scheme_name in op.get("x-multicloud-targets", {}).items():
                scheme = schemes.get(scheme_name, {}) if scheme_name else {}
                lines.append(f"# {op.get('x-multicloud-function')}: {method.upper()} {path} on {target} "
                             f"({_describe(scheme_name, scheme)})")
                args = ["curl", "-s"]
                if method.upper() != "GET":
                    args += ["-X", method.upper()]
                args.append(f"${target.upper()}_URL{concrete}")
                args += _credential_args(scheme_name, scheme, target)
                if "requestBody" in op:
                    args += ["-H", "Content-Type: application/json", "-d", "{}"]
                lines.append(_shell(args))
    return "\n".join(lines) + ("\n" if lines else "")
