"""Drift on docker: the shared record (multicloud/drift.py) stored in the function container's labels.

Labels cannot change after a container is created, so the record of a deployment is written once, by the
same `containers.create` that starts the new release (no extra write), as label `io.multicloud.record`:
the fingerprints of the function container (image digest, run-time settings, secrets fingerprint, state
`running`), of the gateway (its configuration, state `running`) and of the broker (its configuration,
state `running`), as that deploy made them. A copy goes to the local state cache, which serves when the
function container itself was removed by hand (its labels went with it).

"Changed by hand" on an engine therefore means: a container multicloud made was stopped, removed or
replaced outside multicloud (its state or labels now differ from the record), or the gateway was
recreated with another configuration. A plain spec change (new image, new settings) is not drift.
"""

from __future__ import annotations

from collections.abc import Mapping

from multicloud import drift as core
from multicloud.drift import Drift, Resources, check

LABEL = "io.multicloud.record"

__all__ = ["LABEL", "Drift", "Record", "Resources", "check"]


class Record(core.Record):
    """The shared record, stored as a label of each function container at its creation."""

    @classmethod
    def of(cls, labels: Mapping[str, str] | None, cached: object) -> Record:
        """From the function container's label, else (container gone, or made before records) the cache."""
        text = (labels or {}).get(LABEL) or str(cached or "")
        return cls(core.Record.parse(text).recorded)
