"""Drive one built service on every target's real runtime, the same way each platform would.

* `lambda`: the built Lambda zip, unpacked, run by AWS's runtime interface client (`awslambdaric`, the
  code Lambda's Python runtime runs) against the stdlib Runtime API in tests/fixtures; events are the
  aws-sam-cli samples (HTTP requests turned into Function URL / REST events by this module, from those
  samples, independently of the runtime's own builders);
* `local`: the private runtime server (`python -m multicloud.runtime.server`) started from the local
  build, over real sockets: HTTP on the routes, CloudEvents on `/_events/<function>`;
* `gcp`: the built source zip's main.py served by functions-framework (`create_app` + Flask's client);
* `azure`: the built app zip's function_app.py indexed the way the Python worker does, each function
  called with the worker's own `azure.functions` types.

Every target answers an HTTP request with a `View`: status, the interesting headers, cookies, body.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs

ROOT = Path(__file__).resolve().parents[3]
EVENTS = ROOT / "tests" / "events" / "aws"
USER_MODULES = ("lambda_handlers", "web_flask", "web_fastapi", "function_app", "main", "async_app")
HEADERS_OF_INTEREST = ("content-type", "x-length", "location", "x-handler", "x-multi")


def build_everywhere(service: Path, root: Path) -> dict[str, Path]:
    """`service` (a folder with multicloud.yaml) copied to `root` and built for aws, local, gcp and azure
    (dependencies installed for aws and local, as deploy does): target -> its build folder."""
    from multicloud.orchestrate import build_target
    from multicloud.project import Project
    from multicloud.provider import no_progress

    shutil.copytree(service, root, ignore=shutil.ignore_patterns("__pycache__", ".multicloud"))
    project = Project.load(root)
    return {target: build_target(project, target, no_progress).out_dir for target in ("aws", "local", "gcp", "azure")}


def seen_reader(path: Path) -> Callable[..., list[dict[str, Any]]]:
    """`read(keep=False)`: what the handlers recorded in `path` (a JSON object a line), then emptied."""
    path.write_text("")

    def read(keep: bool = False) -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if not keep:
            path.write_text("")
        return lines

    return read


def sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


@dataclass
class Request:
    method: str
    path: str
    query: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


@dataclass
class View:
    status: int
    headers: dict[str, str]
    cookies: list[str]
    body: bytes

    @property
    def data(self) -> Any:
        return json.loads(self.body) if self.body else None

    @classmethod
    def of(cls, status: int, headers: list[tuple[str, str]], body: bytes) -> View:
        wanted: dict[str, str] = {}
        for name, value in headers:  # a repeated header as one comma-joined value, as HTTP allows
            key = name.lower()
            if key in HEADERS_OF_INTEREST:
                wanted[key] = f"{wanted[key]}, {value}" if key in wanted else value
        cookies = sorted(v.split(";")[0].strip() for k, v in headers if k.lower() == "set-cookie")
        return cls(status, wanted, cookies, body)


# ---- Lambda events for a request, from the aws-sam-cli samples ---------------------------------------------


def function_url_event(req: Request) -> dict[str, Any]:
    """apigw-http-api-v2.json with this request's parts (Function URLs send the same shape)."""
    event = sample("apigw-http-api-v2.json")
    cookies = [c.strip() for k, v in req.headers if k.lower() == "cookie" for c in v.split(";")]
    headers: dict[str, str] = {}
    for name, value in req.headers:
        if name.lower() != "cookie":
            headers[name.lower()] = f"{headers[name.lower()]},{value}" if name.lower() in headers else value
    event.update(rawPath=req.path, rawQueryString=req.query, headers=headers,
                 isBase64Encoded=bool(req.body), body=base64.b64encode(req.body).decode() if req.body else None)
    event.pop("pathParameters"), event.pop("stageVariables")
    for key, value in (("cookies", cookies), ("queryStringParameters",
                                              {k: ",".join(v) for k, v in parse_qs(req.query).items()})):
        if value:
            event[key] = value
        else:
            event.pop(key)
    if event["body"] is None:
        del event["body"]
    event["requestContext"]["http"].update(method=req.method, path=req.path)
    return event


def rest_event(req: Request) -> dict[str, Any]:
    """apigw-rest-v1.json with this request's parts."""
    event = sample("apigw-rest-v1.json")
    multi: dict[str, list[str]] = {}
    for name, value in req.headers:
        multi.setdefault(name, []).append(value)
    query = parse_qs(req.query)
    event.update(path=req.path, httpMethod=req.method, headers={k: v[-1] for k, v in multi.items()},
                 multiValueHeaders=multi, queryStringParameters={k: v[-1] for k, v in query.items()} or None,
                 multiValueQueryStringParameters=query or None, pathParameters=None,
                 isBase64Encoded=bool(req.body), body=base64.b64encode(req.body).decode() if req.body else None)
    event["requestContext"]["httpMethod"] = req.method
    return event


def lambda_view(answer: Any, payload: str) -> View:
    """What API Gateway / a Function URL makes of a handler's answer (AWS's documented rules)."""
    if not (isinstance(answer, dict) and "statusCode" in answer):
        assert payload == "2.0", answer
        return View.of(200, [("Content-Type", "application/json")], json.dumps(answer).encode())
    headers = list((answer.get("headers") or {}).items())
    for name, values in (answer.get("multiValueHeaders") or {}).items():
        headers = [(k, v) for k, v in headers if k.lower() != name.lower()] + [(name, v) for v in values]
    headers += [("Set-Cookie", c) for c in answer.get("cookies") or ()]
    body = answer.get("body") or ""
    raw = base64.b64decode(body) if answer.get("isBase64Encoded") else body.encode()
    return View.of(int(answer["statusCode"]), headers, raw)


# ---- targets ---------------------------------------------------------------------------------------------


def purge_user_modules() -> None:
    for name in USER_MODULES:
        sys.modules.pop(name, None)


class LambdaTarget:
    """One awslambdaric process per function, fed by one Runtime API each."""

    def __init__(self, zip_path: Path, work: Path, seen: Path) -> None:
        from lambda_runtime_api import RuntimeApi

        self.root = work / "task"
        zipfile.ZipFile(zip_path).extractall(self.root)
        self.seen = seen
        self.stack = ExitStack()
        self.apis: dict[str, Any] = {}
        self.runtime_api = RuntimeApi
        self.log = (work / "lambda.log").open("wb")

    def invoke(self, function: str, event: Any, timeout_s: float = 30) -> Any:
        """`timeout_s`: the invocation's deadline, as Lambda passes it (Lambda-Runtime-Deadline-Ms)."""
        if function not in self.apis:
            api = self.stack.enter_context(self.runtime_api())
            env = {"AWS_LAMBDA_FUNCTION_NAME": f"legacy-dev-{function}", "STYLES_SEEN": str(self.seen)}
            self.stack.enter_context(api.client(str(self.root), f"_multicloud_entry.{function}", env, log=self.log))
            self.apis[function] = api
        return self.apis[function].invoke(event, function=function, timeout_s=timeout_s)

    def close(self) -> None:
        self.stack.close()
        self.log.close()


class LocalTarget:
    """The private runtime server, started from the local build as the local target runs it."""

    def __init__(self, build_dir: Path, seen: Path) -> None:
        self.log = build_dir / "server.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env["STYLES_SEEN"] = str(seen)
        # Events are POSTed to /_events/<function> here, as a webhook would: the build's broker section (the
        # service's NATS consumer, proven in tests/e2e/events) is left out, since no deploy started a broker.
        config = json.loads((build_dir / "runtime.json").read_text())
        config.pop("broker", None)
        (build_dir / "runtime-posted.json").write_text(json.dumps(config))
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "multicloud.runtime.server", "--config", "../runtime-posted.json", "--port",
                 "0"],
                cwd=build_dir / "app", env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        self.port = 0
        while not self.port:
            for line in self.log.read_text().splitlines():
                if '"listening"' in line:
                    self.port = int(json.loads(line)["address"].rsplit(":", 1)[1])
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the private runtime did not start: {self.log.read_text()}")
            time.sleep(0.05)

    def request(self, method: str, path: str, body: bytes = b"", headers: list[tuple[str, str]] = ()) -> View:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            # one Host field: the sample event's own when it has one (two are a 400, RFC 9112 3.2)
            conn.putrequest(method, path, skip_accept_encoding=True,
                            skip_host=any(name.lower() == "host" for name, _ in headers))
            for name, value in headers:
                conn.putheader(name, value)
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            return View.of(resp.status, resp.getheaders(), resp.read())
        finally:
            conn.close()

    def http(self, req: Request) -> View:
        return self.request(req.method, req.path + (f"?{req.query}" if req.query else ""), req.body, req.headers)

    def event(self, function: str, ce_type: str, data: Any, **attrs: str) -> View:
        doc = {"specversion": "1.0", "id": attrs.pop("id", "evt-1"), "source": "/tests/styles", "type": ce_type,
               "data": data, **attrs}
        return self.request("POST", f"/_events/{function}", json.dumps(doc).encode(),
                            [("Content-Type", "application/cloudevents+json")])

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


class GcpTarget:
    """main.py of the source zip under functions-framework, one Flask test client per entry point."""

    def __init__(self, zip_path: Path, work: Path, env: dict[str, dict[str, str]] | None = None) -> None:
        import functions_framework

        self.root = work / "workspace"
        zipfile.ZipFile(zip_path).extractall(self.root)
        purge_user_modules()
        sys.path.insert(0, str(self.root))
        self.clients: dict[str, Any] = {}
        self.create = functions_framework.create_app
        self.env = env or {}  # entry point -> the environment the deploy gives that function

    def client(self, entry_point: str, signature: str) -> Any:
        if entry_point not in self.clients:
            env = self.env.get(entry_point, {})
            saved = {name: os.environ.get(name) for name in env}
            os.environ.update(env)  # main.py is loaded anew per entry point, its shims read it then
            try:
                app = self.create(target=entry_point, source=str(self.root / "main.py"), signature_type=signature)
            finally:
                for name, value in saved.items():
                    if value is None:
                        os.environ.pop(name, None)
                    else:
                        os.environ[name] = value
            self.clients[entry_point] = app.test_client(use_cookies=False)
        return self.clients[entry_point]

    def http(self, entry_point: str, req: Request) -> View:
        client = self.client(entry_point, "http")
        resp = client.open(req.path, method=req.method, query_string=req.query, headers=req.headers, data=req.body)
        return View.of(resp.status_code, list(resp.headers.items()), resp.get_data())

    def cloud_event(self, entry_point: str, attributes: dict[str, Any], data: Any) -> int:
        from cloudevents.http import CloudEvent, to_structured

        headers, body = to_structured(CloudEvent(attributes, data))
        return int(self.client(entry_point, "cloudevent").post("/", headers=headers, data=body).status_code)

    def close(self) -> None:
        sys.path.remove(str(self.root))


class AzureTarget:
    """function_app.py of the app zip, indexed as the worker indexes it; functions called with its types."""

    def __init__(self, zip_path: Path, work: Path) -> None:
        from azure_testkit import load_app_module
        from azure_worker_index import index

        purge_user_modules()
        self.saved = list(sys.path)
        self.functions = index(load_app_module(zip_path, work / "wwwroot"))

    def call(self, name: str, value: Any) -> Any:
        context = SimpleNamespace(invocation_id=f"inv-{name}-{time.monotonic_ns()}", function_name=name,
                                  function_directory="/home/site/wwwroot", trace_context=None,
                                  retry_context=None, thread_local_storage=None)
        return self.functions[name].function(value, context)

    def http(self, name: str, req: Request, route_params: dict[str, str]) -> View:
        import azure.functions as func

        url = f"https://legacy.azurewebsites.net{req.path}" + (f"?{req.query}" if req.query else "")
        headers: dict[str, str] = {}
        for key, value in req.headers:  # the host hands the worker one value per header name
            headers[key.lower()] = f"{headers[key.lower()]}, {value}" if key.lower() in headers else value
        params = {k: v[-1] for k, v in parse_qs(req.query).items()}
        resp = self.call(name, func.HttpRequest(req.method, url, headers=headers, params=params,
                                                route_params=route_params, body=req.body))
        pairs = [(k, v) for k, v in resp.headers.items() if k.lower() != "set-cookie"]
        pairs += [("Set-Cookie", c) for c in resp.headers.get_all("Set-Cookie")]
        if resp.mimetype and not any(k.lower() == "content-type" for k, _ in pairs):
            charset = f"; charset={resp.charset}" if resp.charset and resp.mimetype.startswith("text/") else ""
            pairs.append(("Content-Type", resp.mimetype + charset))
        return View.of(resp.status_code, pairs, resp.get_body())

    def close(self) -> None:
        sys.path[:] = self.saved
        purge_user_modules()
