"""Call a deployed function by service, function and (optionally) target, wherever it runs.

    from multicloud.client import Client
    client = Client("examples/hybrid-clinic")
    reply = client.call("records", path="/records/42")
    reply.status, reply.json(), reply.target

The client finds the function through the spec's placement and each target's own status (read back
from the target, not from a local file), then calls it through that target's provider, which knows the
endpoint and the auth the target needs (function keys, identity tokens, the private runtime's key).

    client.send(queue="orders", body=b'{"id": 7}', attributes={"tenant": "acme"})

puts a message where the queue (or `stream=`) function reads it, on the one target that runs it (or
`target=`), exactly as `multicloud send` does.

`Client.from_manifest("endpoints.json", keys=...)` needs neither the spec nor any cloud SDK: it calls the
endpoints an endpoints manifest lists (`multicloud endpoints PATH -o json`, see multicloud.manifest_client).
Any other language can skip this module: every HTTP function is plain HTTP + JSON (see docs/client.md).
"""

from __future__ import annotations

import json as _json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from multicloud.endpoints import LIVE_STATES, live_functions
from multicloud.errors import OperationError, UsageError

if TYPE_CHECKING:
    from multicloud.manifest_client import ManifestClient, Signer
    from multicloud.project import Project
    from multicloud.provider import Channel, SendResult

__all__ = ["LIVE_STATES", "Client", "Reply"]


@dataclass(frozen=True)
class Reply:
    target: str
    status: int | None
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    ok: bool = True
    error: str | None = None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> object:
        return _json.loads(self.body)


class Client:
    def __init__(self, spec: Path | str | Project = ".", *, prefer: Sequence[str] | None = None) -> None:
        from multicloud.project import Project

        self.project = spec if isinstance(spec, Project) else Project.load(spec)
        self.prefer = tuple(prefer or ())
        self._where: dict[str, list[str]] = {}

    @staticmethod
    def from_manifest(manifest: str | Path | Mapping[str, Any], *, keys: Mapping[str, str] | None = None,
                      signers: Mapping[str, Signer] | None = None, timeout: float = 30.0) -> ManifestClient:
        """A client over an endpoints manifest (a file or its parsed dict): no spec, no cloud SDK. Keys
        come from `keys` ({"docker": KEY} or {"docker/records": KEY}) or MULTICLOUD_KEY_<TARGET>[_<FN>]."""
        from multicloud.manifest_client import ManifestClient

        return ManifestClient(manifest, keys=keys, signers=signers, timeout=timeout)

    def candidates(self, function: str) -> list[str]:
        """Targets the spec lists and places this function on, in the placement's order of preference
        (the order an endpoints manifest lists them in; `prefer` moves the targets it names first).
        A target deployed by hand but not listed in the spec is reached with `call(..., target=...)`."""
        from multicloud.endpoints import preference

        if function not in self.project.spec.functions:
            raise UsageError(f"no function {function!r} in service {self.project.name}",
                             fix=f"use one of: {', '.join(self.project.spec.functions)}")
        targets = preference(self.project, function, self.project.spec.targets.configured() or ["local"])
        return sorted(targets, key=lambda t: self.prefer.index(t) if t in self.prefer else len(self.prefer))

    def _live(self, function: str, target: str) -> bool:
        from multicloud.orchestrate import provider_for

        try:
            report = provider_for(self.project, target).status()
        except Exception:  # noqa: BLE001 - an unreachable target is simply not a place to call
            return False
        return function in live_functions(report)

    def locate(self, function: str) -> str | None:
        """The first target, in preference order, where the function is live (asked of each target, in
        turn, stopping at the first: remote clouds are not probed when a nearer target serves)."""
        if function not in self._where:
            found = next((t for t in self.candidates(function) if self._live(function, t)), None)
            self._where[function] = [found] if found else []
        return self._where[function][0] if self._where[function] else None

    def call(
        self,
        function: str,
        *,
        path: str | None = None,
        method: str = "GET",
        json: object = None,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        query: dict[str, list[str]] | None = None,
        target: str | None = None,
    ) -> Reply:
        from multicloud.orchestrate import provider_for
        from multicloud.provider import InvokeRequest

        chosen = target or self.locate(function)
        if not chosen:
            raise OperationError(f"function {function!r} of {self.project.name} is not deployed anywhere it may run",
                                 fix=f"deploy it: multicloud deploy {self.project.root}")
        hdrs = dict(headers or {})
        if json is not None:
            body = _json.dumps(json).encode()
            hdrs.setdefault("content-type", "application/json")
        request = InvokeRequest(function=function, trigger="http", method=method.upper(), path=path, headers=hdrs,
                                query=query or {}, body=body)
        result = provider_for(self.project, chosen).invoke(request)
        return Reply(chosen, result.status, result.body, result.headers, result.ok, result.error)

    def send(self, queue: str | None = None, body: bytes | str = b"", attributes: dict[str, str] | None = None,
             target: str | None = None, *, stream: str | None = None) -> SendResult:
        """One message to a queue (or stream) some function reads: SQS/Kinesis, Storage queue/Event Hubs,
        Pub/Sub, the private broker. `target`: where; default the one listed target where a function reads
        it (with several, it must be given: a message is not copied to every cloud)."""
        if (queue is None) == (stream is None):
            raise UsageError("give exactly one of queue= or stream=")
        kind: Channel = "queue" if queue is not None else "stream"
        name = queue if queue is not None else stream
        assert name is not None
        listed = self.project.spec.targets.configured() or ["local"]
        readers = [t for t in listed if name in self.project.channels_for(t, kind)]
        if target is None:
            if len(readers) != 1:
                raise UsageError(f"{kind} {name!r} is read on {', '.join(readers) or 'no listed target'}",
                                 fix="pass target=... (one of: " + ", ".join(readers or listed) + ")")
            target = readers[0]
        elif name not in self.project.channels_for(target, kind):
            raise UsageError(f"no function reads {kind} {name!r} on {target}",
                             fix=f"use one of: {', '.join(readers)}" if readers else f"add a {kind} trigger")
        from multicloud.orchestrate import provider_for

        data = body.encode() if isinstance(body, str) else body
        return provider_for(self.project, target).send(kind, name, data, attributes or {})
