"""One HTTP request as the private runtime's dispatch sees it, built from the ASGI scope uvicorn hands over.

HTTP parsing is uvicorn's (httptools); this is only the view the routing, auth, CloudEvents parsing and the
access log share: method, raw path, query string, lower-cased header pairs, body, client address, arrival
time and the matched route template (logged instead of the path, so values in paths stay out of logs).
"""

from __future__ import annotations

from dataclasses import dataclass


class HttpError(Exception):
    """An answer the runtime gives itself (400 bad CloudEvent, 404 unknown function...)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(slots=True)  # one per request: slots make it cheaper to build and to read
class Request:
    method: str
    path: str  # raw (percent-encoded) path, as sent
    query_string: str
    headers: list[tuple[str, str]]  # names lower-cased, in order, repeats kept
    client_ip: str
    started: float  # perf_counter when the request was handed to the app
    body: bytes = b""
    route: str | None = None  # the matched route's template, logged instead of the path and its values
    keep_alive: bool = True

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None
