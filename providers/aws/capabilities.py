"""The `aws` row of the capability table (AWS Lambda): what multicloud/capabilities.py
checks a spec against and `multicloud capabilities` prints.

Source: https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
"""

from __future__ import annotations

from multicloud.capabilities import ALL_TRIGGERS, MB, Limits

LIMITS = Limits(
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
)
