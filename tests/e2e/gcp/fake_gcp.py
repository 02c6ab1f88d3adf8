"""A FAKE of the Google Cloud REST APIs the gcp target calls, for tests only. It is not Google.

No Google endpoint is reachable from this machine, so this small in-memory server stands in for the
parts of four REST APIs the provider uses, with the same paths, JSON shapes and error envelope:

* Cloud Functions v2: generateUploadUrl, create (409 on a duplicate id), get, list, patch with an update
  mask, delete, long-running operations (optionally pending for a few polls);
* Cloud Storage signed upload: PUT of the zip (`Content-Type: application/zip` required);
* Cloud Run v2 IAM (getIamPolicy / setIamPolicy) on each function's service;
* Cloud Scheduler v1 jobs (create, get, list, patch with an update mask, delete);
* Cloud Logging v2 `entries:list`.

What is real: the google-cloud-functions / google-cloud-scheduler clients and their REST transport, and,
when `serve=True`, the deployed zip itself: the fake unpacks it and runs it with the real
functions-framework server on 127.0.0.1 (env vars and Secret Manager values injected as the platform
would), so a function's URL answers with the deployed code and its output becomes log entries.
"""

from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FUNCTION_TYPE = "type.googleapis.com/google.cloud.functions.v2.Function"
METADATA_TYPE = "type.googleapis.com/google.cloud.functions.v2.OperationMetadata"


def _camel(path: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ApiError(Exception):
    def __init__(self, code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.code, self.status, self.message = code, status, message


class FakeGoogleCloud:
    """State plus a ThreadingHTTPServer on 127.0.0.1. Use as a context manager."""

    def __init__(self, *, serve: bool = False, pending_polls: int = 0, secrets: dict[str, str] | None = None) -> None:
        self.serve = serve
        self.pending_polls = pending_polls
        self.secret_values = secrets or {}  # "projects/P/secrets/S/versions/V" (or .../latest) -> value
        self.functions: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.policies: dict[str, dict[str, Any]] = {}
        self.uploads: dict[str, bytes] = {}
        self.operations: dict[str, dict[str, Any]] = {}
        self.polls: dict[str, int] = {}
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []  # (method, path, query)
        self.log_entries: list[dict[str, Any]] = []
        self.processes: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
        self.fail_next: list[tuple[str, ApiError]] = []  # (method + " " + path regex, error)
        self.build_failures: list[str] = []  # the next create/update operations end with this build error
        self._lock = threading.RLock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # ---- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> FakeGoogleCloud:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        for proc, _workdir in self.processes.values():  # signal all first, then wait: they stop together
            proc.terminate()
        for name in list(self.processes):
            self._stop(name)

    def env(self) -> dict[str, str]:
        """The standard gcloud endpoint overrides pointing every API at this fake."""
        return {f"CLOUDSDK_API_ENDPOINT_OVERRIDES_{api}": self.url + "/"
                for api in ("CLOUDFUNCTIONS", "CLOUDSCHEDULER", "RUN", "LOGGING")}

    def mutations(self) -> list[tuple[str, str, dict[str, list[str]]]]:
        return [r for r in self.requests if r[0] != "GET" and ":getIamPolicy" not in r[1]
                and "entries:list" not in r[1]]

    # ---- HTTP plumbing ---------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return None

            def _dispatch(self, method: str) -> None:
                parsed = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(parsed.query)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                path = urllib.parse.unquote(parsed.path)
                with fake._lock:
                    fake.requests.append((method, path, query))
                try:
                    for pattern, error in list(fake.fail_next):
                        if re.fullmatch(pattern, f"{method} {path}"):
                            fake.fail_next.remove((pattern, error))
                            raise error
                    status, body = fake.route(method, path, query, raw, dict(self.headers))
                except ApiError as err:
                    status = err.code
                    body = {"error": {"code": err.code, "message": err.message, "status": err.status}}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._dispatch("GET")

            def do_POST(self) -> None:
                self._dispatch("POST")

            def do_PATCH(self) -> None:
                self._dispatch("PATCH")

            def do_PUT(self) -> None:
                self._dispatch("PUT")

            def do_DELETE(self) -> None:
                self._dispatch("DELETE")

        return Handler

    def route(self, method: str, path: str, query: dict[str, list[str]], raw: bytes,
              headers: dict[str, str]) -> tuple[int, Any]:
        body = json.loads(raw) if raw and method != "PUT" else {}
        loc = r"(projects/[^/]+/locations/[^/]+)"
        with self._lock:
            if method == "PUT" and (m := re.fullmatch(r"/upload/(.+)", path)):
                if headers.get("Content-Type", headers.get("content-type")) != "application/zip":
                    raise ApiError(400, "INVALID_ARGUMENT", "upload must be sent as Content-Type: application/zip")
                self.uploads[m.group(1)] = raw
                return 200, {}
            if m := re.fullmatch(rf"/v2/{loc}/functions:generateUploadUrl", path):
                obj = f"{uuid.uuid4().hex}.zip"
                return 200, {"uploadUrl": f"{self.url}/upload/{obj}",
                             "storageSource": {"bucket": "gcf-v2-uploads-fake", "object": obj}}
            if m := re.fullmatch(rf"/v2/{loc}/functions", path):
                if method == "POST":
                    return 200, self._create_function(m.group(1), query["functionId"][0], body)
                return 200, {"functions": [self.functions[k] for k in sorted(self.functions)
                                           if k.startswith(m.group(1) + "/")]}
            if m := re.fullmatch(rf"/v2/({loc[1:-1]}/functions/[^/:]+)", path):
                return 200, self._function(method, m.group(1), query, body)
            if m := re.fullmatch(rf"/v2/({loc[1:-1]}/operations/[^/]+)", path):
                return 200, self._poll(m.group(1))
            if m := re.fullmatch(rf"/v2/({loc[1:-1]}/services/[^/:]+):(getIamPolicy|setIamPolicy)", path):
                if m.group(2) == "setIamPolicy":
                    policy = dict(body["policy"])
                    policy["etag"] = uuid.uuid4().hex[:8]
                    self.policies[m.group(1)] = policy
                return 200, self.policies.get(m.group(1), {"etag": "ACAB"})
            if m := re.fullmatch(rf"/v1/{loc}/jobs", path):
                if method == "POST":
                    name = body["name"]
                    if name in self.jobs:
                        raise ApiError(409, "ALREADY_EXISTS", f"Job {name} already exists.")
                    self.jobs[name] = {**body, "state": "ENABLED"}
                    return 200, self.jobs[name]
                return 200, {"jobs": [self.jobs[k] for k in sorted(self.jobs) if k.startswith(m.group(1) + "/")]}
            if m := re.fullmatch(rf"/v1/({loc[1:-1]}/jobs/[^/:]+)", path):
                return 200, self._job(method, m.group(1), query, body)
            if path == "/v2/entries:list":
                return 200, self._entries(body)
        raise ApiError(404, "NOT_FOUND", f"fake: no route for {method} {path}")

    # ---- Cloud Functions -------------------------------------------------------------------------
    def _operation(self, response: dict[str, Any] | None, target: str, verb: str) -> dict[str, Any]:
        parent = target.split("/functions/")[0]
        name = f"{parent}/operations/operation-{uuid.uuid4().hex[:12]}"
        op: dict[str, Any] = {"name": name, "done": self.pending_polls == 0,
                              "metadata": {"@type": METADATA_TYPE, "target": target, "verb": verb}}
        if response is not None and verb != "delete" and self.build_failures:
            message = self.build_failures.pop(0)
            response["state"] = "FAILED"
            response["stateMessages"] = [{"severity": "ERROR", "type": "BuildFailed", "message": message}]
            op["error"] = {"code": 3, "message": message}
            response = None
        if response is not None:
            op["response"] = {"@type": FUNCTION_TYPE, **response}
        elif "error" not in op:
            op["response"] = {"@type": "type.googleapis.com/google.protobuf.Empty"}
        self.operations[name] = op
        self.polls[name] = self.pending_polls
        return {k: v for k, v in op.items() if k not in ("response", "error") or op["done"]}

    def _poll(self, name: str) -> dict[str, Any]:
        op = self.operations.get(name)
        if op is None:
            raise ApiError(404, "NOT_FOUND", f"operation {name} not found")
        if self.polls[name] > 0:
            self.polls[name] -= 1
        op["done"] = self.polls[name] == 0
        return {k: v for k, v in op.items() if k not in ("response", "error") or op["done"]}

    def _check_source(self, fn: dict[str, Any]) -> None:
        source = fn.get("buildConfig", {}).get("source", {}).get("storageSource", {})
        if source.get("object") not in self.uploads:
            raise ApiError(400, "INVALID_ARGUMENT", "buildConfig.source.storageSource: object was not uploaded")

    def _create_function(self, parent: str, function_id: str, body: dict[str, Any]) -> dict[str, Any]:
        name = f"{parent}/functions/{function_id}"
        if name in self.functions:
            raise ApiError(409, "ALREADY_EXISTS", f"Function {function_id} in region already exists")
        if not re.fullmatch(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?", function_id):
            raise ApiError(400, "INVALID_ARGUMENT", f"invalid function id {function_id}")
        self._check_source(body)
        fn = {**body, "name": name, "state": "ACTIVE", "environment": "GEN_2"}
        service = f"{parent}/services/{function_id}"
        fn.setdefault("serviceConfig", {})["service"] = service
        self.functions[name] = fn
        self._start(name)
        return self._operation(fn, name, "create")

    def _function(self, method: str, name: str, query: dict[str, list[str]], body: dict[str, Any]) -> Any:
        fn = self.functions.get(name)
        if fn is None:
            raise ApiError(404, "NOT_FOUND", f"Resource '{name}' was not found")
        if method == "GET":
            return fn
        if method == "DELETE":
            self._stop(name)
            del self.functions[name]
            self.policies.pop(fn["serviceConfig"]["service"], None)
            return self._operation(None, name, "delete")
        if method == "PATCH":
            mask = [p for q in query.get("updateMask", []) for p in q.split(",") if p]
            if not mask:
                raise ApiError(400, "INVALID_ARGUMENT", "update_mask is required")
            for path in mask:
                _apply(fn, body, _camel(path).split("."))
            if any(_camel(p).startswith("buildConfig.source") for p in mask):
                self._check_source(fn)
            fn["state"] = "ACTIVE"
            fn.pop("stateMessages", None)
            self._start(name)
            return self._operation(fn, name, "update")
        raise ApiError(405, "UNIMPLEMENTED", method)

    # ---- serving the deployed code with the real functions-framework ------------------------------
    def _start(self, name: str) -> None:
        fn = self.functions[name]
        fid = name.rsplit("/", 1)[1]
        if not self.serve:
            fn["serviceConfig"]["uri"] = f"https://{fid}-fake.a.run.app"
            fn["url"] = fn["serviceConfig"]["uri"]
            return
        self._stop(name)
        obj = fn["buildConfig"]["source"]["storageSource"]["object"]
        workdir = Path(tempfile.mkdtemp(prefix=f"fake-gcf-{fid}-"))
        zipfile.ZipFile(io.BytesIO(self.uploads[obj])).extractall(workdir)
        port = _free_port()
        service_config = fn["serviceConfig"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDSDK_")}
        env.update(service_config.get("environmentVariables", {}))
        for secret in service_config.get("secretEnvironmentVariables", []):
            ref = f"projects/{secret['projectId']}/secrets/{secret['secret']}/versions/{secret['version']}"
            if ref not in self.secret_values:
                raise ApiError(400, "FAILED_PRECONDITION", f"secret {ref} does not exist or has no access")
            env[secret["key"]] = self.secret_values[ref]
        env.update(PYTHONPATH=str(workdir), K_SERVICE=fid, PYTHONUNBUFFERED="1")
        cmd = [sys.executable, "-m", "functions_framework", "--target", fn["buildConfig"]["entryPoint"],
               "--source", str(workdir / "main.py"), "--host", "127.0.0.1", "--port", str(port)]
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.processes[name] = (proc, workdir)
        threading.Thread(target=self._pump, args=(fid, proc), daemon=True).start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                fn["state"] = "FAILED"
                fn["stateMessages"] = [{"severity": "ERROR", "type": "Deploy", "message": "container exited"}]
                break
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        service_config["uri"] = f"http://127.0.0.1:{port}"
        fn["url"] = service_config["uri"]

    def _pump(self, fid: str, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with self._lock:
                self.log_entries.append({
                    "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{time.time_ns() % 10**9:09d}Z",
                    "resource": {"type": "cloud_run_revision", "labels": {"service_name": fid}},
                    "textPayload": line.decode(errors="replace").rstrip("\n"),
                    "logName": "projects/fake/logs/run.googleapis.com%2Fstdout",
                })

    def _stop(self, name: str) -> None:
        entry = self.processes.pop(name, None)
        if entry is not None:
            proc, _workdir = entry
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    # ---- Cloud Scheduler and Logging -------------------------------------------------------------
    def _job(self, method: str, name: str, query: dict[str, list[str]], body: dict[str, Any]) -> Any:
        job = self.jobs.get(name)
        if job is None:
            raise ApiError(404, "NOT_FOUND", f"Job not found: {name}")
        if method == "GET":
            return job
        if method == "DELETE":
            del self.jobs[name]
            return {}
        if method == "PATCH":
            mask = [p for q in query.get("updateMask", []) for p in q.split(",") if p]
            if not mask:  # Scheduler replaces the whole job without a mask
                self.jobs[name] = {**body, "name": name, "state": job.get("state", "ENABLED")}
                return self.jobs[name]
            for path in mask:
                _apply(job, body, _camel(path).split("."))
            return job
        raise ApiError(405, "UNIMPLEMENTED", method)

    def _entries(self, body: dict[str, Any]) -> dict[str, Any]:
        flt = body.get("filter", "")
        services = re.findall(r'resource\.labels\.service_name\s*=\s*"([^"]+)"', flt)
        since = re.search(r'timestamp\s*>=\s*"([^"]+)"', flt)
        entries = [e for e in self.log_entries
                   if (not services or e["resource"]["labels"]["service_name"] in services)
                   and (since is None or e["timestamp"] >= since.group(1))]
        return {"entries": entries[: int(body.get("pageSize", 1000))]}


def _apply(target: dict[str, Any], source: dict[str, Any], parts: list[str]) -> None:
    """Set (or clear) one update-mask path on a stored resource, as the real APIs do."""
    head, rest = parts[0], parts[1:]
    if not rest:
        if head in source:
            target[head] = source[head]
        else:
            target.pop(head, None)
        return
    _apply(target.setdefault(head, {}), source.get(head, {}), rest)
