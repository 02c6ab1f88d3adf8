"""Call functions through an endpoints manifest: plain HTTP, standard library only, no cloud SDK.

    from multicloud.client import Client
    client = Client.from_manifest("endpoints.json", keys={"docker": "..."})
    reply = client.call("records", path="/records/42")

The manifest (`multicloud endpoints PATH -o json`, see multicloud.endpoints) lists each function's live
targets in the placement's order. A call goes to the first target; when that target does not answer (the
connection fails or times out, or it answers 503; for idempotent methods also 502 or 504) it goes to the
next one. Every other answer, 4xx and 500 included, is the function's and comes back as the `Reply`.

The JavaScript client (clients/js) follows the same rules; the two are tested against the same deployment.
"""

from __future__ import annotations

import json as _json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from multicloud.client import Reply
from multicloud.endpoints import load_manifest
from multicloud.errors import OperationError, UnsupportedError, UsageError
from multicloud.provider import SendResult
from multicloud.runtime.http import match_route

# A signer adds the headers a cloud's IAM wants (AWS SigV4, a Google identity token) to one request:
# signer(method, url, headers, body, auth) -> headers to add. `auth` is the route's manifest auth object.
Signer = Callable[[str, str, Mapping[str, str], bytes, Mapping[str, str]], Mapping[str, str]]

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_ANY = frozenset({503})  # the target did not take the request (draining, overloaded)
RETRY_IDEMPOTENT = frozenset({502, 504})  # a gateway without an answer: the call may have run


class UnavailableError(OperationError):
    """No target of the function answered. `attempts` says what each one did."""

    kind = "unavailable"

    def __init__(self, what: str, attempts: list[dict[str, object]], *, fix: str | None = None) -> None:
        self.attempts = attempts
        super().__init__(what, fix=fix)


class AuthRequiredError(UsageError):
    """Every live target needs a key or signature the client was not given."""

    kind = "auth"


def key_env_names(target: str, function: str) -> tuple[str, str]:
    """The environment variables a key is read from: per function first, then per target."""
    def norm(text: str) -> str:
        return text.upper().replace("-", "_")

    return f"MULTICLOUD_KEY_{norm(target)}_{norm(function)}", f"MULTICLOUD_KEY_{norm(target)}"


@dataclass(frozen=True)
class _Attempt:
    target: str
    url: str | None = None
    status: int | None = None
    error: str | None = None

    def summary(self) -> dict[str, object]:
        return {k: v for k, v in {"target": self.target, "url": self.url, "status": self.status,
                                  "error": self.error}.items() if v is not None}


class ManifestClient:
    def __init__(self, manifest: str | Path | Mapping[str, Any], *, keys: Mapping[str, str] | None = None,
                 signers: Mapping[str, Signer] | None = None, timeout: float = 30.0,
                 env: Mapping[str, str] | None = None) -> None:
        """`keys`: {"docker": KEY} or {"docker/records": KEY} (per function wins); missing keys are read
        from MULTICLOUD_KEY_<TARGET>_<FUNCTION> or MULTICLOUD_KEY_<TARGET>. `signers`: {"aws": signer}
        for routes guarded by a cloud's IAM. `timeout`: seconds per attempt."""
        self.manifest = load_manifest(manifest)
        self.keys = dict(keys or {})
        self.signers = dict(signers or {})
        self.timeout = timeout
        self.env = os.environ if env is None else env

    @property
    def service(self) -> str:
        return str(self.manifest.get("service", ""))

    def targets(self, function: str) -> list[dict[str, Any]]:
        """The function's live targets, in the order calls try them."""
        functions = self.manifest["functions"]
        if function not in functions:
            raise UsageError(f"no function {function!r} in the manifest of {self.service}",
                             fix=f"use one of: {', '.join(functions) or 'none'}")
        return list(functions[function].get("targets") or [])

    def call(
        self,
        function: str,
        *,
        path: str | None = None,
        method: str = "GET",
        json: object = None,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str | list[str]] | None = None,
        target: str | None = None,
    ) -> Reply:
        method = method.upper()
        entries = self.targets(function)
        if target is not None:
            entries = [e for e in entries if e.get("target") == target]
            if not entries:
                raise UnavailableError(f"function {function!r} is not live on {target}", [],
                                       fix="regenerate the manifest, or call it without target=")
        entries = [e for e in entries if e.get("url")]
        if not entries:
            raise UnavailableError(f"function {function!r} of {self.service} has no live HTTP endpoint", [],
                                   fix="deploy it, then regenerate the manifest: multicloud endpoints PATH -o json")
        hdrs = dict(headers or {})
        if json is not None:
            body = _json.dumps(json).encode()
            if not any(k.lower() == "content-type" for k in hdrs):
                hdrs["Content-Type"] = "application/json"
        attempts: list[_Attempt] = []
        missing: list[str] = []
        for entry in entries:
            tname = str(entry["target"])
            route_path = path if path is not None else _default_path(function, entry)
            auth = _auth_for(entry, route_path)
            try:
                extra = self._credentials(function, tname, auth, method, entry, route_path, body)
            except _NoCredentials as exc:
                missing.append(str(exc))
                attempts.append(_Attempt(tname, error=str(exc)))
                continue
            url = str(entry["url"]).rstrip("/") + _quote_path(route_path)
            url += _query_string(query, "&" if "?" in url else "?")
            reply, attempt = self._attempt(tname, method, url, {**hdrs, **extra}, body, auth)
            if reply is not None:
                return reply
            attempts.append(attempt)
        if missing and len(missing) == len(attempts):
            raise AuthRequiredError(f"function {function!r} needs credentials on every live target: "
                                    + "; ".join(missing),
                                    fix="pass keys={TARGET: KEY} (or set MULTICLOUD_KEY_<TARGET>), or "
                                    "signers={TARGET: signer} for IAM")
        raise UnavailableError(f"no target of function {function!r} answered: "
                               + "; ".join(_describe(a) for a in attempts),
                               [a.summary() for a in attempts], fix="check `multicloud status` on each target")

    def send(self, queue: str | None = None, body: bytes | str = b"", attributes: Mapping[str, str] | None = None,
             target: str | None = None, *, stream: str | None = None) -> SendResult:
        """One message to a queue (or stream) a function reads, through the private runtime's HTTP intake
        (`POST /_queues/<q>`, behind the service's key): to the first target in the reading function's
        placement order that takes messages over HTTP, the next one when it does not answer (the connection
        fails or times out, or it answers 503: nothing was stored). Clouds take no unsigned messages: when
        no listed target has an intake, UnsupportedError says to use `multicloud send` or the cloud's SDK.
        `attributes` travel as X-Multicloud-Attr-<name> headers: names are lower-cased, values ASCII."""
        if (queue is None) == (stream is None):
            raise UsageError("give exactly one of queue= or stream=")
        kind, name = ("queue", queue) if queue is not None else ("stream", stream)
        assert name is not None
        channels = self.manifest.get(f"{kind}s") or {}
        if name not in channels:
            raise UsageError(f"no {kind} {name!r} in the manifest of {self.service}",
                             fix=f"use one of: {', '.join(channels) or 'none'}")
        entries = [e for e in channels[name].get("send") or [] if target is None or e.get("target") == target]
        usable = [e for e in entries if e.get("url")]
        if not usable:
            why = "; ".join(f"{e.get('target')}: {e.get('why')}" for e in entries) or (
                f"not live on {target}" if target else "no target where a function reads it is live")
            raise UnsupportedError(f"no target takes messages for {kind} {name!r} over HTTP ({why})",
                                   fix=f"use `multicloud send PATH -t TARGET --{kind} {name} -d BODY` or the cloud's "
                                   "SDK, or regenerate the manifest after deploying to local or docker")
        headers = attribute_headers(attributes or {})
        data = body.encode() if isinstance(body, str) else bytes(body)
        attempts: list[_Attempt] = []
        missing: list[str] = []
        for entry in usable:
            tname, auth = str(entry["target"]), entry.get("auth") or {"type": "none"}
            try:
                extra = self._credentials("", tname, auth, "POST", entry, "", data)
            except _NoCredentials as exc:
                missing.append(str(exc))
                attempts.append(_Attempt(tname, error=str(exc)))
                continue
            url = str(entry["url"])
            reply, attempt = self._attempt(tname, "POST", url, {**headers, **extra}, data, auth)
            if reply is None:
                attempts.append(attempt)
                continue
            return _sent(reply, kind, name, url)
        if missing and len(missing) == len(attempts):
            raise AuthRequiredError(f"{kind} {name!r} needs the service's key on every target that takes messages: "
                                    + "; ".join(missing),
                                    fix="pass keys={TARGET: KEY} (or set MULTICLOUD_KEY_<TARGET>)")
        raise UnavailableError(f"no target took the message for {kind} {name!r}: "
                               + "; ".join(_describe(a) for a in attempts),
                               [a.summary() for a in attempts], fix="check `multicloud status` on each target")

    # ---- one attempt -------------------------------------------------------------------------------
    def _credentials(self, function: str, target: str, auth: Mapping[str, str], method: str,
                     entry: Mapping[str, Any], path: str, body: bytes) -> dict[str, str]:
        kind = auth.get("type", "none")
        if kind == "key":
            per_fn, per_target = key_env_names(target, function) if function else ("", key_env_names(target, "")[1])
            key = ((self.keys.get(f"{target}/{function}") if function else None) or self.keys.get(target)
                   or (self.env.get(per_fn) if function else None) or self.env.get(per_target))
            if not key:
                raise _NoCredentials(f"{target} needs a key in {auth.get('header')} (keys={{{target!r}: ...}} "
                                     f"or {per_target})")
            return {str(auth.get("header") or "X-Multicloud-Key"): key}
        if kind == "iam":
            signer = self.signers.get(target)
            if signer is None:
                raise _NoCredentials(f"{target} needs {auth.get('scheme', 'IAM')} (signers={{{target!r}: ...}})")
            url = str(entry["url"]).rstrip("/") + _quote_path(path)
            return dict(signer(method, url, {}, body, auth))
        return {}

    def _attempt(self, target: str, method: str, url: str, headers: dict[str, str], body: bytes,
                 auth: Mapping[str, str]) -> tuple[Reply | None, _Attempt]:
        request = urllib.request.Request(url, data=body or None, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:  # noqa: S310 - manifest URLs
                status, resp_headers, data = resp.status, dict(resp.headers.items()), resp.read()
        except urllib.error.HTTPError as exc:
            status, resp_headers, data = exc.code, dict(exc.headers.items()), exc.read()
        except (OSError, ValueError) as exc:  # refused, reset, timed out, bad URL
            reason = getattr(exc, "reason", exc)
            return None, _Attempt(target, url, error=f"{type(reason).__name__}: {reason}")
        if status in RETRY_ANY or (status in RETRY_IDEMPOTENT and method in IDEMPOTENT):
            return None, _Attempt(target, url, status=status)
        lowered = {k.lower(): v for k, v in resp_headers.items()}
        ok = 200 <= status < 400  # as the private targets' invoke counts it
        return Reply(target, status, data, lowered, ok, None if ok else f"HTTP {status}"), _Attempt(target, url, status)


class _NoCredentials(Exception):
    pass


ATTR_HEADER = "X-Multicloud-Attr-"
ATTR_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
ATTR_VALUE_RE = re.compile(r"[\x20-\x7e]{0,1024}")


def attribute_headers(attributes: Mapping[str, str]) -> dict[str, str]:
    """Message attributes as the intake reads them (multicloud/runtime/intake.py): one header each."""
    out: dict[str, str] = {}
    for name, value in attributes.items():
        low = str(name).lower()
        if not ATTR_NAME_RE.fullmatch(low) or low.startswith(("nats-", "mc-")):
            raise UsageError(f"attribute name {name!r} cannot travel over HTTP",
                             fix="letters, digits, '-' or '_' (up to 64), not starting with nats- or mc-")
        if not isinstance(value, str) or not ATTR_VALUE_RE.fullmatch(value):
            raise UsageError(f"attribute {name!r}: the value must be printable ASCII, up to 1024 characters",
                             fix="encode it (e.g. base64), or use `multicloud send` for other values")
        out[ATTR_HEADER + low] = value
    return out


def _sent(reply: Reply, kind: str, name: str, url: str) -> SendResult:
    """The intake's answer as a SendResult, or the typed error its status means."""
    try:
        data = reply.json()
    except ValueError:
        data = {}
    message = data.get("error") if isinstance(data, dict) else None
    told = f"{reply.target} answered HTTP {reply.status} for {kind} {name!r}" + (f": {message}" if message else "")
    if reply.status in (200, 201, 202) and isinstance(data, dict):
        return SendResult(reply.target, kind, name, url, str(data.get("seq")))  # type: ignore[arg-type]
    if reply.status in (401, 403):
        raise AuthRequiredError(told, fix=f"pass the service's key for {reply.target}: keys={{{reply.target!r}: KEY}} "
                                f"or {key_env_names(reply.target, '')[1]}")
    if reply.status in (400, 404, 405, 413):
        raise UsageError(told, fix="check the name, the attributes and the body size (1 MB on the private targets)")
    raise OperationError(told, fix="a 504 may have stored the message: check before sending it again")


def _describe(attempt: _Attempt) -> str:
    return f"{attempt.target}: " + (f"HTTP {attempt.status}" if attempt.status is not None else str(attempt.error))


def _default_path(function: str, entry: Mapping[str, Any]) -> str:
    """The function's first route without parameters (as `multicloud invoke` takes the first route)."""
    routes = [str(r["path"]) for r in entry.get("routes") or []]
    if not routes:
        raise UsageError(f"function {function!r} has no http route on {entry.get('target')}")
    plain = [r for r in routes if "{" not in r]
    if not plain:
        raise UsageError(f"the routes of {function} have parameters",
                         fix=f"give the concrete path, e.g. path={routes[0].split('{')[0] + '1'!r}")
    return plain[0]


def _auth_for(entry: Mapping[str, Any], path: str) -> Mapping[str, str]:
    """The auth of the route `path` matches; for a path no route matches, the first auth any route asks
    for (as `multicloud invoke` sends the key whenever some route needs it)."""
    routes = entry.get("routes") or []
    bare = path.split("?", 1)[0]
    for route in routes:
        if match_route(str(route["path"]), bare) is not None:
            return dict(route.get("auth") or {"type": "none"})
    guarded = [r["auth"] for r in routes if (r.get("auth") or {}).get("type", "none") != "none"]
    return dict(guarded[0]) if guarded else {"type": "none"}


def _quote_path(path: str) -> str:
    if not path.startswith("/"):
        path = "/" + path
    return quote(path, safe="/%:@!$&'()*+,;=-._~?")


def _query_string(query: Mapping[str, str | list[str]] | None, sep: str) -> str:
    if not query:
        return ""
    pairs = [(k, v) for k, vs in query.items() for v in ([vs] if isinstance(vs, str) else vs)]
    return sep + urlencode(pairs)
