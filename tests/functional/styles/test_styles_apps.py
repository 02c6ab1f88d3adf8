"""`style: wsgi` and `style: asgi`: a Flask app and a FastAPI app, unchanged, serve the same requests with the
same answers on Lambda (awslambdaric running the built zip: Function URL and REST API events), the private
runtime, functions-framework (GCP) and the azure-functions indexer (Azure): methods, path parameters,
query strings, headers, cookies both ways, binary bodies, status codes, redirects.
"""

from __future__ import annotations

import json

import pytest
from styles_support import Request, View, function_url_event, lambda_view, rest_event

pytestmark = pytest.mark.slow

APPS = ("flask", "fastapi")
TARGETS = ("lambda-url", "lambda-rest", "local", "gcp", "azure")
BINARY = bytes(range(256)) * 3


def requests(app: str) -> dict[str, Request]:
    p = f"/{app}"
    return {
        "get": Request("GET", f"{p}/items/42", "q=a%20b&tag=x&tag=y",
                       [("X-Trace", "t-1"), ("Cookie", "session=abc; theme=dark")]),
        "put-json": Request("PUT", f"{p}/items/7", "", [("Content-Type", "application/json")],
                            json.dumps({"name": "été"}).encode()),
        "delete": Request("DELETE", f"{p}/items/7"),
        "binary": Request("POST", f"{p}/echo", "", [("Content-Type", "application/octet-stream")], BINARY),
        "teapot": Request("GET", f"{p}/teapot"),
        "redirect": Request("GET", f"{p}/old"),
        "not-found": Request("GET", f"{p}/nowhere"),
        "wrong-method": Request("PUT", f"{p}/echo", "", [], b"x"),
    }


def answer(target: str, app: str, req: Request, lambda_target, local_target, gcp_target, azure_target) -> View:
    if target == "lambda-url":
        return lambda_view(lambda_target.invoke(app, function_url_event(req)), "2.0")
    if target == "lambda-rest":
        return lambda_view(lambda_target.invoke(app, rest_event(req)), "1.0")
    if target == "local":
        return local_target.http(req)
    if target == "gcp":
        return gcp_target.http(app, req)
    return azure_target.http(app, req, {"proxy": req.path.split("/", 2)[2]})


def comparable(view: View) -> tuple:
    is_json = (view.headers.get("content-type") or "").startswith("application/json")
    body = view.data if is_json else view.body
    # an empty answer's type means nothing (functions-framework's Flask adds text/html to any answer)
    content_type = view.headers.get("content-type") if view.body else None
    return view.status, content_type, view.headers.get("location"), view.headers.get("x-length"), view.cookies, body


@pytest.mark.parametrize("app", APPS)
def test_the_app_answers_the_same_on_every_target(app, lambda_target, local_target, gcp_target, azure_target) -> None:
    for name, req in requests(app).items():
        views = {t: answer(t, app, req, lambda_target, local_target, gcp_target, azure_target) for t in TARGETS}
        reference = comparable(views["local"])
        for target, view in views.items():
            assert comparable(view) == reference, (name, target, view)

    got = {name: answer("lambda-url", app, req, lambda_target, local_target, gcp_target, azure_target)
           for name, req in requests(app).items()}
    assert got["get"].status == 200 and got["get"].data == {
        "id": 42, "q": "a b", "tags": ["x", "y"], "trace": "t-1", "session": "abc", "theme": "dark",
        "method": "GET", "path": f"/{app}/items/42"}
    assert got["put-json"].data == {"id": 7, "name": "été", "method": "PUT"}
    assert (got["delete"].status, got["delete"].body) == (204, b"")
    assert got["binary"].status == 201 and got["binary"].body == BINARY[::-1]
    assert got["binary"].headers["x-length"] == str(len(BINARY)) and got["binary"].cookies == ["x=1", "y=2"]
    assert (got["teapot"].status, got["teapot"].body) == (418, b"short and stout")
    assert (got["redirect"].status, got["redirect"].headers["location"]) == (302, f"/{app}/items/1")
    assert got["not-found"].status == 404 and got["wrong-method"].status == 405


def test_an_unhandled_error_is_the_apps_own_500_everywhere(lambda_target, local_target, gcp_target,
                                                            azure_target) -> None:
    """FastAPI's error middleware answers 500 and re-raises: the answer stands, the traceback is logged."""
    req = Request("GET", "/fastapi/boom")
    views = {t: answer(t, "fastapi", req, lambda_target, local_target, gcp_target, azure_target) for t in TARGETS}
    assert {(v.status, v.body) for v in views.values()} == {(500, b"Internal Server Error")}


def test_the_private_runtime_streams_an_asgi_response_as_it_is_produced(local_target) -> None:
    """Served natively (server_asgi), a StreamingResponse's first chunk reaches the client a second before
    the app produces the last one; the buffering targets answer both at once."""
    import http.client
    import time

    conn = http.client.HTTPConnection("127.0.0.1", local_target.port, timeout=30)
    try:
        started = time.monotonic()
        conn.request("GET", "/fastapi/stream")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("transfer-encoding") == "chunked"
        first = resp.read1(64)
        first_at = time.monotonic() - started
        rest = resp.read()
        last_at = time.monotonic() - started
    finally:
        conn.close()
    assert (first, rest) == (b"first\n", b"last\n")
    assert last_at - first_at >= 0.9, (first_at, last_at)  # the first chunk did not wait for the last
