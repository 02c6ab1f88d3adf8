"""What each target can do, as data: trigger kinds and limits, with where each number comes from.

`check(project, target)` turns a spec that asks for more than a target offers into located errors
(exit 2), so `multicloud validate --target T` fails before anything is built or deployed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from multicloud.spec.models import TRIGGER_KINDS, TriggerKind

MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    triggers: frozenset[TriggerKind]
    memory_mb: tuple[int, int]
    max_timeout_s: int
    max_http_timeout_s: int
    payload_bytes: int
    package_bytes: int
    unzipped_bytes: int | None
    secret_schemes: frozenset[str]
    trigger_services: dict[str, str]
    notes: str


ALL_TRIGGERS: frozenset[TriggerKind] = frozenset(TRIGGER_KINDS)

CAPABILITIES: dict[str, Limits] = {
    # https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
    "aws": Limits(
        triggers=ALL_TRIGGERS,
        memory_mb=(128, 10240),
        max_timeout_s=900,
        max_http_timeout_s=900,
        payload_bytes=6 * MB,
        package_bytes=50 * MB,
        unzipped_bytes=250 * MB,
        secret_schemes=frozenset({"ssm", "secretsmanager"}),
        trigger_services={"http": "Function URL or API Gateway HTTP API", "schedule": "EventBridge Scheduler",
                          "queue": "SQS", "stream": "Kinesis", "storage": "S3"},
        notes="Function URLs and API Gateway cap synchronous payloads at 6 MB.",
    ),
    # https://learn.microsoft.com/azure/azure-functions/functions-scale#service-limits
    "azure": Limits(
        triggers=ALL_TRIGGERS,
        memory_mb=(128, 4096),
        max_timeout_s=14400,
        max_http_timeout_s=230,
        payload_bytes=100 * MB,
        package_bytes=1024 * MB,
        unzipped_bytes=None,
        secret_schemes=frozenset({"keyvault"}),
        trigger_services={"http": "HTTP trigger", "schedule": "Timer trigger", "queue": "Storage Queue",
                          "stream": "Event Hubs", "storage": "Blob trigger"},
        notes="Flex Consumption instance memory is 512, 2048 or 4096 MB: memory rounds up to one. "
              "HTTP responses must start within 230 s (load balancer idle timeout). Consumption plans cap "
              "timeouts at 600 s.",
    ),
    # https://cloud.google.com/functions/quotas
    "gcp": Limits(
        triggers=frozenset({"http", "schedule", "queue", "storage"}),
        memory_mb=(128, 32768),
        max_timeout_s=540,
        max_http_timeout_s=3600,
        payload_bytes=32 * MB,
        package_bytes=100 * MB,
        unzipped_bytes=500 * MB,
        secret_schemes=frozenset({"gcp-secret"}),
        trigger_services={"http": "HTTPS endpoint", "schedule": "Cloud Scheduler -> HTTP",
                          "queue": "Pub/Sub (Eventarc)", "storage": "Cloud Storage (Eventarc)"},
        notes="Event-driven gen2 functions time out at 540 s, HTTP ones at 3600 s. No stream trigger: "
              "use a queue (Pub/Sub) instead.",
    ),
    "docker": Limits(
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
    ),
}
# the embedded target runs the same runtime as docker, without an engine to enforce limits
CAPABILITIES["local"] = replace(
    CAPABILITIES["docker"],
    notes="Memory limits are not enforced on the local target (no engine); use docker for that. Queue, stream "
          "and storage triggers need nats-server (the supervisor runs it).",
)
