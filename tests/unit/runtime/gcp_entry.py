"""What the GCP target renders as main.py, in small: functions-framework serves these two targets."""

from multicloud.runtime.gcp import GcpShim

_http = GcpShim("portable_handler.handler", "orders", route="/orders/{id}")
_events = GcpShim("portable_handler.handler", "orders-events")


def http_entry(request):
    return _http.http(request)


def event_entry(cloud_event):
    _events.cloud_event(cloud_event)
