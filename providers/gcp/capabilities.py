"""The `gcp` row of the capability table (Cloud Functions gen2): what multicloud/capabilities.py
checks a spec against and `multicloud capabilities` prints.

Source: https://cloud.google.com/functions/quotas
"""

from __future__ import annotations

from multicloud.capabilities import MB, Limits

LIMITS = Limits(
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
)
