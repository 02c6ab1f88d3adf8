"""The endpoints manifest: where each function of a service is live, how to call it, in which order.

`multicloud endpoints PATH -o json` writes it; `multicloud.client.Client.from_manifest` and the JavaScript
client in `clients/js` read it, so a caller needs no cloud SDK and no credentials to find a function, only
the keys or signatures the routes ask for. It holds no secret: a key route names the header that carries
the key, never the key.

Format 1 (docs/client.md has the full description):

    {"manifest": "multicloud-endpoints", "version": 1, "service": "clinic",
     "functions": {"records": {
         "placement": {"data_class": "confidential", "order": ["local", "docker"]},
         "targets": [{"target": "local", "url": "http://127.0.0.1:8080",
                      "routes": [{"path": "/records/{patient}", "methods": ["GET"],
                                  "auth": {"type": "key", "header": "X-Multicloud-Key"}}]}, ...]}},
     "queues": {"orders": {"functions": ["fulfil"], "targets": ["local", "aws"],
                           "send": [{"target": "local", "url": "http://127.0.0.1:8080/_queues/orders",
                                     "auth": {"type": "key", "header": "X-Multicloud-Key"}},
                                    {"target": "aws", "url": null, "why": "SQS and Kinesis take only..."}]}},
     "streams": {...}}

`targets` lists, in the placement's order of preference, the targets where the function is live: a client
tries them in that order and moves to the next when one does not answer. The auth a route needs depends on
the target (`AUTH_RULES`): the private runtime and Azure check a key header per route; AWS and GCP guard a
whole function with the cloud's IAM. A channel's `send` says, per live target in the reading function's
placement order, where a client POSTs a message (the private runtime's HTTP intake, multicloud/runtime/
intake.py, always behind the service's key) or, with `url: null`, why it cannot (the clouds' queues take only
requests signed with cloud credentials).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multicloud.errors import MulticloudError, OperationError, UsageError
from multicloud.project import Project, ResolvedFunction
from multicloud.provider import FunctionStatus, StatusReport
from multicloud.spec.models import HttpTrigger

MANIFEST = "multicloud-endpoints"
FORMAT = 1
LIVE_STATES = frozenset({"running", "active", "healthy", "ready", "deployed"})
# Without `allowed_targets`, private targets come first (nearer, and the data stays home), then the public
# clouds in the spec's canonical order (aws, azure, gcp).
PRIVATE_FIRST = ("local", "docker")


def _private_first(target: str) -> int:
    return PRIVATE_FIRST.index(target) if target in PRIVATE_FIRST else len(PRIVATE_FIRST)


@dataclass(frozen=True)
class AuthRule:
    """How one target guards a route marked `auth: key` (and, for some, every route)."""

    key: dict[str, str]  # the manifest's `auth` object for a key route on this target
    whole_function: bool = False  # one setting covers every route of a function (a URL's auth type)


KEY_HEADER = "X-Multicloud-Key"
AUTH_RULES: dict[str, AuthRule] = {
    "local": AuthRule({"type": "key", "header": KEY_HEADER}),
    "docker": AuthRule({"type": "key", "header": KEY_HEADER}),
    "azure": AuthRule({"type": "key", "header": "x-functions-key"}),
    "aws": AuthRule({"type": "iam", "scheme": "aws-sigv4", "service": "lambda"}, whole_function=True),
    "gcp": AuthRule({"type": "iam", "scheme": "google-id-token"}, whole_function=True),
}
NO_AUTH: dict[str, str] = {"type": "none"}


def http_routes(fn: ResolvedFunction) -> list[HttpTrigger]:
    return [t.config for t in fn.triggers if isinstance(t.config, HttpTrigger)]


def route_auth(project: Project, target: str, fn: ResolvedFunction, route: HttpTrigger) -> dict[str, str]:
    """The manifest's `auth` object for one route on one target (no secret in it: a header name at most)."""
    rule = AUTH_RULES.get(target)
    if rule is None:  # a third-party target: the private runtime's convention is the only one we know
        rule = AUTH_RULES["local"]
    guarded = route.auth == "key"
    if rule.whole_function:
        guarded = any(r.auth == "key" for r in http_routes(fn))
        if target == "gcp" and not getattr(project.settings("gcp"), "allow_unauthenticated", True):
            guarded = True  # a private Cloud Run service: every call needs an identity token
    return dict(rule.key) if guarded else dict(NO_AUTH)


def preference(project: Project, function: str, targets: Sequence[str]) -> list[str]:
    """The targets among `targets` that `function` may run on, in the order a client should try them:
    the placement's `allowed_targets` order when it lists them, else local, docker, then the rest in the
    order given (the spec's targets: aws, azure, gcp)."""
    placed = [t for t in targets if any(f.name == function for f in project.functions_for(t))]
    allowed = project.spec.placement_of(function).allowed_targets
    if allowed:
        return sorted(placed, key=lambda t: allowed.index(t) if t in allowed else len(allowed))
    return sorted(placed, key=_private_first)


def base_url(fn: ResolvedFunction, endpoint: str) -> str:
    """The URL a route's path is appended to. Targets report either the base (a Function URL, a Cloud
    Run URI) or the base plus the function's first route (the private targets, Azure)."""
    for route in http_routes(fn):
        if route.path != "/" and endpoint.endswith(route.path):
            return endpoint[: -len(route.path)].rstrip("/")
    return endpoint.rstrip("/")


def live_functions(report: StatusReport) -> dict[str, FunctionStatus]:
    """{spec function: its status} for the functions live on the target. Azure reports a function it
    split into several as `name (azure name)`: the spec's name is the part before the brackets."""
    out: dict[str, FunctionStatus] = {}
    for status in report.functions:
        name = status.function.split(" (", 1)[0]
        if status.state in LIVE_STATES and (name not in out or (status.endpoint and not out[name].endpoint)):
            out[name] = status
    return out


def build_manifest(project: Project, targets: Sequence[str], reports: Mapping[str, StatusReport]
                   ) -> dict[str, Any]:
    """The manifest from each target's status report (pure: no target is asked here)."""
    live = {t: live_functions(r) for t, r in reports.items()}
    functions: dict[str, Any] = {}
    for name in project.spec.functions:
        order = preference(project, name, targets)
        entries = []
        for target in order:
            status = live.get(target, {}).get(name)
            if status is None:
                continue
            fn = project.function(target, name)
            routes = http_routes(fn)
            url = base_url(fn, status.endpoint) if routes and status.endpoint else None
            entries.append({
                "target": target, "url": url,
                "routes": [{"path": r.path, "methods": list(r.methods),
                            "auth": _located(route_auth(project, target, fn, r), url, reports[target])}
                           for r in routes] if url else [],
            })
        functions[name] = {
            "placement": {"data_class": project.spec.placement_of(name).data_class, "order": order},
            "targets": entries,
        }
    manifest: dict[str, Any] = {"manifest": MANIFEST, "version": FORMAT, "service": project.name,
                                "functions": functions}
    for kind, key in (("queue", "queues"), ("stream", "streams")):
        channels: dict[str, Any] = {}
        for target in sorted(targets, key=_private_first):
            for channel, fns in project.channels_for(target, kind).items():
                entry = channels.setdefault(channel, {"functions": [], "targets": []})
                for fn in fns:
                    if fn.name not in entry["functions"]:
                        entry["functions"].append(fn.name)
                if any(fn.name in live.get(target, {}) for fn in fns):
                    entry["targets"].append(target)
        for channel, entry in channels.items():
            order = preference(project, entry["functions"][0], targets) if entry["functions"] else []
            live_targets = sorted(entry["targets"], key=lambda t: order.index(t) if t in order else len(order))
            entry["send"] = [intake_entry(project, t, kind, channel, reports[t]) for t in live_targets]
        manifest[key] = dict(sorted(channels.items()))
    return manifest


# Why a client cannot put a message on a cloud's queue or stream over plain HTTP: each takes only requests
# signed with the cloud's credentials, which a browser or a manifest client should not hold.
NO_INTAKE: dict[str, str] = {
    "aws": "SQS and Kinesis take only requests signed with AWS credentials (SigV4), which a manifest client "
           "should not hold: use `multicloud send PATH -t aws` or the AWS SDK",
    "azure": "Storage queues and Event Hubs take only requests authorised by the storage account or Microsoft "
             "Entra ID: use `multicloud send PATH -t azure` or the Azure SDK",
    "gcp": "Pub/Sub takes only requests with a Google OAuth token of an identity allowed to publish: use "
           "`multicloud send PATH -t gcp` or the Google Cloud SDK",
}
INTAKE_PATHS = {"queue": "/_queues/", "stream": "/_streams/"}


def intake_entry(project: Project, target: str, kind: str, channel: str, report: StatusReport) -> dict[str, Any]:
    """Where a client POSTs a message for `channel` on `target` (the private runtime's HTTP intake, always
    behind the service's key), or `url: null` and why not."""
    from urllib.parse import quote

    from multicloud.private_runtime import holds_key

    if target not in PRIVATE_FIRST:
        why = NO_INTAKE.get(target, f"the {target} target has no HTTP intake: use `multicloud send PATH -t {target}`")
        return {"target": target, "url": None, "why": why}
    if not holds_key(project, target):
        return {"target": target, "url": None,
                "why": f"the {target} runtime of this service holds no key (no `auth: key` route, no "
                       f"targets.{target}.auth_key in the spec) and its intake never takes unauthenticated "
                       f"messages: use `multicloud send PATH -t {target}`"}
    base = report.details.get("url")
    if not base:
        return {"target": target, "url": None,
                "why": f"{target} reported no URL: check `multicloud status -t {target}`"}
    return {"target": target, "url": base.rstrip("/") + INTAKE_PATHS[kind] + quote(channel, safe=""),
            "auth": dict(AUTH_RULES[target].key)}


def _located(auth: dict[str, str], url: str | None, report: StatusReport) -> dict[str, str]:
    """What a signer needs besides the request: AWS SigV4's region, a Google identity token's audience."""
    if auth.get("scheme") == "aws-sigv4" and report.details.get("region"):
        return {**auth, "region": report.details["region"]}
    if auth.get("scheme") == "google-id-token" and url:
        return {**auth, "audience": url}
    return auth


def gather_reports(project: Project, targets: Sequence[str]) -> tuple[dict[str, StatusReport],
                                                                      dict[str, MulticloudError]]:
    """Ask every target for its status, concurrently: (reports, errors by target)."""
    from multicloud.orchestrate import provider_for

    def ask(target: str) -> StatusReport | MulticloudError:
        try:
            return provider_for(project, target).status()
        except MulticloudError as exc:
            return exc

    if not targets:
        return {}, {}
    with ThreadPoolExecutor(max_workers=min(8, len(targets))) as pool:
        answers = dict(zip(targets, pool.map(ask, targets), strict=True))
    reports = {t: a for t, a in answers.items() if isinstance(a, StatusReport)}
    errors = {t: a for t, a in answers.items() if isinstance(a, MulticloudError)}
    return reports, errors


def manifest_of(project: Project, targets: Sequence[str]) -> dict[str, Any]:
    """Ask the targets and build the manifest; a target that cannot be asked fails the whole manifest
    (a manifest missing a target would quietly lose a failover)."""
    reports, errors = gather_reports(project, targets)
    if errors:
        target, exc = next(iter(errors.items()))
        others = [t for t in targets if t not in errors]
        fix = exc.fix or "check the target's credentials and that it is reachable"
        if others:
            fix += f"; or leave it out: --target {','.join(others)}"
        raise OperationError(f"cannot read what is deployed on {target}: {exc.what}", fix=fix) from exc
    return build_manifest(project, targets, reports)


def load_manifest(source: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """A manifest from a file path or an already parsed dict, checked for the fields clients use."""
    where = None
    if isinstance(source, Mapping):
        data: Any = dict(source)
    else:
        where = str(source)
        try:
            data = json.loads(Path(source).read_text())
        except OSError as exc:
            raise UsageError(f"cannot read the endpoints manifest {source}: {exc.strerror}",
                             fix="write it with `multicloud endpoints PATH -o json > endpoints.json`") from exc
        except ValueError as exc:
            raise UsageError(f"{source} is not JSON: {exc}", fix="write it with `multicloud endpoints PATH -o json`"
                             ) from exc
    if not isinstance(data, dict) or data.get("manifest") != MANIFEST or not isinstance(data.get("functions"), dict):
        raise UsageError("not a multicloud endpoints manifest (no `manifest: multicloud-endpoints` and "
                         "`functions`)", fix="write it with `multicloud endpoints PATH -o json`", where=where)
    if data.get("version") != FORMAT:
        raise UsageError(f"endpoints manifest version {data.get('version')!r} is not supported (this client reads "
                         f"version {FORMAT})", fix="regenerate it with this version of multicloud", where=where)
    return data
