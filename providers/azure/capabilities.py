"""The `azure` row of the capability table (Azure Functions): what multicloud/capabilities.py
checks a spec against and `multicloud capabilities` prints.

Source: https://learn.microsoft.com/azure/azure-functions/functions-scale#service-limits
"""

from __future__ import annotations

from multicloud.capabilities import ALL_TRIGGERS, MB, Limits

LIMITS = Limits(
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
)
