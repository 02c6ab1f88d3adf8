"""The `local` row of the capability table (the embedded runtime): what multicloud/capabilities.py
checks a spec against and `multicloud capabilities` prints.

The same runtime as docker, so docker's row with its own notes: there is no engine to enforce limits.
"""

from __future__ import annotations

from dataclasses import replace

from multicloud.capabilities import limits

LIMITS = replace(
    limits("docker"),
    notes="Memory limits are not enforced on the local target (no engine); use docker for that. Queue, stream "
          "and storage triggers need nats-server (the supervisor runs it).",
)
