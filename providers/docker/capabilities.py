"""The `docker` row of the capability table (the private cloud): what multicloud/capabilities.py
checks a spec against and `multicloud capabilities` prints.

The limits are the engine's and the runtime's own, not a vendor's quota.
"""

from __future__ import annotations

from multicloud.capabilities import ALL_TRIGGERS, MB, Limits

LIMITS = Limits(
    triggers=ALL_TRIGGERS,
    memory_mb=(64, 32768),
    max_timeout_s=86400,
    max_http_timeout_s=86400,
    payload_bytes=1024 * MB,
    package_bytes=10 * 1024 * MB,
    unzipped_bytes=None,
    secret_schemes=frozenset({"env", "file"}),
    trigger_services={"http": "runtime HTTP server", "schedule": "in-runtime scheduler",
                      "queue": "NATS JetStream work queue", "stream": "NATS JetStream stream",
                      "storage": "S3 bucket notifications (MinIO, Ceph RGW) over JetStream or webhook"},
    notes="Queue, stream and storage triggers are consumed by the runtime from the service's own NATS "
          "JetStream broker (a container; a 3-node cluster in swarm mode).",
)
