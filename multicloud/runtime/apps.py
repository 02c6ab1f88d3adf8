"""What the WSGI and ASGI adapters share: the request's address, scheme and path, and the answer's cookies.

Both adapters start from the portable `HttpRequest` every shim already builds, so a Flask or FastAPI
app sees the same request on Lambda, Azure, GCP and the private runtime.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from multicloud.runtime.context import Context
    from multicloud.runtime.http import HttpRequest

CLOUDS = ("aws", "azure", "gcp")  # behind the platform's TLS front end


def scheme(request: HttpRequest, ctx: Context) -> str:
    forwarded = (request.headers.get("x-forwarded-proto") or "").split(",")[0].strip().lower()
    if forwarded in ("http", "https"):
        return forwarded
    return "https" if ctx.target in CLOUDS else "http"


def server(request: HttpRequest, url_scheme: str) -> tuple[str, int]:
    """(host, port) from the Host header, the default port of the scheme when it names none."""
    host = (request.headers.get("host") or "localhost").split(",")[0].strip()
    default = 443 if url_scheme == "https" else 80
    if host.startswith("["):  # [::1]:8080
        name, _, rest = host[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        name, _, port = host.partition(":")
    return name or "localhost", int(port) if port.isdigit() else default


def path_bytes(path: str) -> bytes:
    """The request path percent-decoded, as bytes. Shims give it decoded or still encoded depending on the
    platform (Function URLs and Azure keep the encoding); decoding once more only changes a decoded path
    that still holds `%XX`, which no platform produces from an ordinary URL."""
    if "%" in path:
        from urllib.parse import unquote_to_bytes

        return unquote_to_bytes(path)
    return path.encode("utf-8")


def split_cookies(headers: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[str]]:
    """Set-Cookie headers apart: every platform carries cookies on their own (`HttpResult.cookies`)."""
    cookies = [v for k, v in headers if k.lower() == "set-cookie"]
    return [(k, v) for k, v in headers if k.lower() != "set-cookie"], cookies
