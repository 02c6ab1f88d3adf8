"""A FAKE of the Google Cloud REST APIs the gcp target calls, for tests only. It is not Google.

No Google endpoint is reachable from this machine, so this small in-memory server stands in for the
parts of five REST APIs the provider uses, with the same paths, JSON shapes and error envelopes:

* Cloud Functions v2: generateUploadUrl, create (409 on a duplicate id), get, list, patch (with an update
  mask, or without one: every field the request provides), delete, long-running operations (optionally
  pending for a few polls); labels are checked as documented (at most 64; keys start with a lowercase
  letter; keys and values at most 63 lowercase letters, digits, `_` and `-`), a bad one is a 400;
* Cloud Storage signed upload: PUT of the zip (`Content-Type: application/zip` required);
* Cloud Run v2 IAM (getIamPolicy / setIamPolicy) on each function's service;
* Cloud Scheduler v1 jobs (create, get, list, patch with an update mask, delete, pause and resume: a job
  must be ENABLED to pause and PAUSED to resume, else 400 FAILED_PRECONDITION; patch keeps the state);
* Cloud Logging v2 `entries:list`;
* Eventarc v1 triggers (get): a function with a Pub/Sub trigger gets `eventTrigger.trigger`, and the
  trigger's `transport.pubsub.subscription` is a push subscription the fake makes, as Eventarc does, on
  the REAL Pub/Sub emulator when `PUBSUB_EMULATOR_HOST` is set (the topic created if missing, as Cloud
  Functions does), pushing to `<function URL>/projects/P/topics/T` (the path functions-framework reads
  a raw Pub/Sub push's topic from); updated when the function moves, deleted with it;
* Cloud Storage JSON API v1, the deploy lock's calls: buckets insert and get; objects media upload
  (`uploadType=media`), get (metadata, or the content with `alt=media`) and delete, each honouring the
  `ifGenerationMatch` precondition as documented (0: only if no live object; 412 `conditionNotMet` when
  it does not hold; 404 `notFound` for a missing object or bucket, which wins over a precondition on get
  and delete; 204 from delete), with GCS's own error envelope (`errors[].reason`, no `status`), int64
  fields as strings, and the object name as one %-encoded path segment. `foreign_buckets` are names
  taken by another project: 409 on insert, 403 on any use. No versioning, ACLs or other upload types.

What is real: the google-cloud-functions / google-cloud-scheduler clients and their REST transport, and,
when `serve=True`, the deployed zip itself: the fake unpacks it and runs it with the real
functions-framework server on 127.0.0.1 (env vars and Secret Manager values injected as the platform
would), so a function's URL answers with the deployed code and its output becomes log entries.
"""

from __future__ import annotations

import base64
import hashlib
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
from typing import Any, NamedTuple

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

    def envelope(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


class StorageError(ApiError):
    """Cloud Storage's JSON API answers with the older envelope: a `reason` per error, no `status`."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(code, "", message)
        self.reason = reason

    def envelope(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message,
                          "errors": [{"message": self.message, "domain": "global", "reason": self.reason}]}}


class Media(NamedTuple):
    """A non-JSON response body (an object's content)."""

    data: bytes
    content_type: str
    headers: dict[str, str]


NO_BUCKET = "The specified bucket does not exist."
PRECONDITION = "At least one of the pre-conditions you specified did not hold."
BUCKET_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]")
LABEL_KEY_RE = re.compile(r"[a-z][a-z0-9_-]{0,62}")
LABEL_VALUE_RE = re.compile(r"[a-z0-9_-]{0,63}")
MAX_LABELS = 64


def _check_labels(labels: dict[str, str]) -> None:
    """Google's label rules (cloud.google.com/resource-manager/docs/labels-overview), ASCII only."""
    if len(labels) > MAX_LABELS:
        raise ApiError(400, "INVALID_ARGUMENT", f"a resource can have at most {MAX_LABELS} labels")
    for key, value in labels.items():
        if not LABEL_KEY_RE.fullmatch(key) or not LABEL_VALUE_RE.fullmatch(str(value)):
            raise ApiError(400, "INVALID_ARGUMENT", f"invalid label {key}={value}: keys and values are at most 63 "
                                                    "lowercase letters, digits, '_' and '-'; keys start with a letter")


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
        self.buckets: dict[str, dict[str, Any]] = {}
        self.triggers: dict[str, dict[str, Any]] = {}  # Eventarc trigger name -> trigger
        self.pubsub = os.environ.get("PUBSUB_EMULATOR_HOST")
        self.objects: dict[tuple[str, str], tuple[dict[str, Any], bytes]] = {}  # (bucket, name) -> (meta, data)
        self.foreign_buckets: set[str] = set()  # bucket names another project owns
        self._generation = 0
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
                for api in ("CLOUDFUNCTIONS", "CLOUDSCHEDULER", "RUN", "LOGGING", "STORAGE", "EVENTARC",
                            "CLOUDRESOURCEMANAGER")}

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
                    if parsed.path.startswith(("/storage/v1/", "/upload/storage/v1/")):  # on the raw path
                        status, body = fake.storage(method, parsed.path, query, raw, dict(self.headers))
                    else:
                        status, body = fake.route(method, path, query, raw, dict(self.headers))
                except ApiError as err:
                    status, body = err.code, err.envelope()
                if isinstance(body, Media):
                    data, content_type, extra = body
                elif body is None:
                    data, content_type, extra = b"", "", {}
                else:
                    data, content_type, extra = json.dumps(body).encode(), "application/json", {}
                self.send_response(status)
                if content_type:
                    self.send_header("Content-Type", content_type)
                for key, value in extra.items():
                    self.send_header(key, value)
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
            if (m := re.fullmatch(rf"/v1/({loc[1:-1]}/jobs/[^/:]+):(pause|resume)", path)) and method == "POST":
                return 200, self._pause_or_resume(m.group(1), m.group(2))
            if path == "/v2/entries:list":
                return 200, self._entries(body)
            if (m := re.fullmatch(rf"/v1/({loc[1:-1]}/triggers/[^/:]+)", path)) and method == "GET":
                if m.group(1) not in self.triggers:
                    raise ApiError(404, "NOT_FOUND", f"Resource '{m.group(1)}' was not found")
                return 200, self.triggers[m.group(1)]
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
        _check_labels(body.get("labels", {}))
        fn = {**body, "name": name, "state": "ACTIVE", "environment": "GEN_2"}
        service = f"{parent}/services/{function_id}"
        fn.setdefault("serviceConfig", {})["service"] = service
        self.functions[name] = fn
        self._start(name)
        self._eventarc(name)
        return self._operation(fn, name, "create")

    def _function(self, method: str, name: str, query: dict[str, list[str]], body: dict[str, Any]) -> Any:
        fn = self.functions.get(name)
        if fn is None:
            raise ApiError(404, "NOT_FOUND", f"Resource '{name}' was not found")
        if method == "GET":
            return fn
        if method == "DELETE":
            self._stop(name)
            self._eventarc(name, delete=True)
            del self.functions[name]
            self.policies.pop(fn["serviceConfig"]["service"], None)
            return self._operation(None, name, "delete")
        if method == "PATCH":
            mask = [p for q in query.get("updateMask", []) for p in q.split(",") if p]
            if not mask:  # v2: without a mask, every field the request provides is updated
                mask = [f"{k}.{sub}" if k in ("buildConfig", "serviceConfig") else k
                        for k, v in body.items() if k != "name"
                        for sub in (v if k in ("buildConfig", "serviceConfig") else [None])]
            if "labels" in [_camel(p) for p in mask]:
                _check_labels(body.get("labels", {}))
            for path in mask:
                _apply(fn, body, _camel(path).split("."))
            if any(_camel(p).startswith("buildConfig.source") for p in mask):
                self._check_source(fn)
            fn["state"] = "ACTIVE"
            fn.pop("stateMessages", None)
            self._start(name)
            self._eventarc(name)
            return self._operation(fn, name, "update")
        raise ApiError(405, "UNIMPLEMENTED", method)

    # ---- Eventarc's Pub/Sub transport, made on the real emulator ----------------------------------
    def _eventarc(self, name: str, delete: bool = False) -> None:
        fn = self.functions[name]
        trigger = fn.get("eventTrigger") or {}
        known = next((t for t in self.triggers.values() if t["function"] == name), None)
        topic = trigger.get("pubsubTopic")
        if known is not None and (delete or known["transport"]["pubsub"]["topic"] != topic):
            del self.triggers[known["name"]]
            if self.pubsub:
                from google.cloud import pubsub_v1

                pubsub_v1.SubscriberClient().delete_subscription(
                    request={"subscription": known["transport"]["pubsub"]["subscription"]})
            known = None
        if delete or not topic:
            return
        project, region, fid = name.split("/")[1], name.split("/")[3], name.rsplit("/", 1)[1]
        if known is None:
            tid = f"{fid}-{uuid.uuid4().hex[:6]}"
            sub = f"projects/{project}/subscriptions/eventarc-{region}-{tid}-sub-{uuid.uuid4().int % 1000:03d}"
            known = {"name": f"{name.split('/functions/')[0]}/triggers/{tid}", "function": name,
                     "transport": {"pubsub": {"topic": topic, "subscription": sub}}}
            self.triggers[known["name"]] = known
        trigger["trigger"] = known["name"]
        if self.pubsub:
            from google.api_core.exceptions import AlreadyExists
            from google.cloud import pubsub_v1

            sub = known["transport"]["pubsub"]["subscription"]
            push = {"push_endpoint": f"{fn['serviceConfig']['uri']}/{topic}"}
            try:
                pubsub_v1.PublisherClient().create_topic(request={"name": topic})
            except AlreadyExists:
                pass
            try:
                pubsub_v1.SubscriberClient().create_subscription(request={
                    "name": sub, "topic": topic, "push_config": push, "ack_deadline_seconds": 10})
            except AlreadyExists:
                pubsub_v1.SubscriberClient().modify_push_config(request={"subscription": sub, "push_config": push})

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
        service_config = fn["serviceConfig"]
        # a Cloud Run service keeps its URL across revisions: a new revision is served on the same port
        was = urllib.parse.urlsplit(str(service_config.get("uri", "")))
        port = was.port if was.hostname == "127.0.0.1" and was.port else _free_port()
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

    def _pause_or_resume(self, name: str, verb: str) -> dict[str, Any]:
        job = self.jobs.get(name)
        if job is None:
            raise ApiError(404, "NOT_FOUND", f"Job not found: {name}")
        need, becomes = ("ENABLED", "PAUSED") if verb == "pause" else ("PAUSED", "ENABLED")
        if job.get("state") != need:
            raise ApiError(400, "FAILED_PRECONDITION",
                           f"Job must be in state {need} to {verb}; it is {job.get('state')}")
        job["state"] = becomes
        return job

    def _entries(self, body: dict[str, Any]) -> dict[str, Any]:
        flt = body.get("filter", "")
        services = re.findall(r'resource\.labels\.service_name\s*=\s*"([^"]+)"', flt)
        since = re.search(r'timestamp\s*>=\s*"([^"]+)"', flt)
        entries = [e for e in self.log_entries
                   if (not services or e["resource"]["labels"]["service_name"] in services)
                   and (since is None or e["timestamp"] >= since.group(1))]
        return {"entries": entries[: int(body.get("pageSize", 1000))]}


    # ---- Cloud Storage JSON API (the deploy lock) ------------------------------------------------
    def storage(self, method: str, raw_path: str, query: dict[str, list[str]], raw: bytes,
                headers: dict[str, str]) -> tuple[int, Any]:
        args = {k: v[0] for k, v in query.items()}
        with self._lock:
            if raw_path == "/storage/v1/b" and method == "POST":
                return 200, self._insert_bucket(args, json.loads(raw or b"{}"))
            if (m := re.fullmatch(r"/storage/v1/b/([^/]+)", raw_path)) and method == "GET":
                return 200, self._bucket(m.group(1))
            if (m := re.fullmatch(r"/upload/storage/v1/b/([^/]+)/o", raw_path)) and method == "POST":
                content_type = headers.get("Content-Type", headers.get("content-type", "application/octet-stream"))
                return 200, self._upload_object(m.group(1), args, raw, content_type)
            if m := re.fullmatch(r"/storage/v1/b/([^/]+)/o/([^/]+)", raw_path):  # the name is one %-encoded segment
                return self._object(method, m.group(1), urllib.parse.unquote(m.group(2)), args)
        raise StorageError(404, "notFound", f"fake: no route for {method} {raw_path}")

    def _bucket(self, name: str) -> dict[str, Any]:
        if name in self.foreign_buckets:
            raise StorageError(403, "forbidden", f"anonymous-caller does not have storage.buckets.get access to "
                                                 f"the Google Cloud Storage bucket {name}.")
        if name not in self.buckets:
            raise StorageError(404, "notFound", NO_BUCKET)
        return self.buckets[name]

    def _insert_bucket(self, args: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        name = str(body.get("name", ""))
        if "project" not in args:
            raise StorageError(400, "required", "Required parameter: project")
        if not BUCKET_NAME_RE.fullmatch(name):
            raise StorageError(400, "invalid", f"Invalid bucket name: '{name}'")
        if name in self.foreign_buckets:
            raise StorageError(409, "conflict", "The requested bucket name is not available. The bucket namespace "
                                                "is shared by all users of the system. Please select a different "
                                                "name and try again.")
        if name in self.buckets:
            raise StorageError(409, "conflict", "Your previous request to create the named bucket succeeded and "
                                                "you already own it.")
        retention = str(body.get("softDeletePolicy", {}).get("retentionDurationSeconds", "604800"))
        if retention != "0" and not 604800 <= int(retention) <= 7776000:
            raise StorageError(400, "invalid", "Invalid argument: softDeletePolicy.retentionDurationSeconds")
        now = _rfc3339()
        iam = body.get("iamConfiguration", {})
        ubla = iam.get("uniformBucketLevelAccess", {"enabled": False})
        self.buckets[name] = {
            "kind": "storage#bucket", "id": name, "name": name, "projectNumber": "123456789012",
            "metageneration": "1", "location": str(body.get("location", "US")).upper(), "locationType": "region",
            "storageClass": body.get("storageClass", "STANDARD"), "labels": body.get("labels", {}),
            "iamConfiguration": {
                "uniformBucketLevelAccess": {**ubla, **({"lockedTime": now} if ubla.get("enabled") else {})},
                "publicAccessPrevention": iam.get("publicAccessPrevention", "inherited")},
            "softDeletePolicy": {"retentionDurationSeconds": retention},
            "timeCreated": now, "updated": now, "etag": "CAE=",
        }
        return self.buckets[name]

    def _check_generation(self, key: tuple[str, str], args: dict[str, str]) -> None:
        """`ifGenerationMatch`: the live generation must equal it; 0 means no live object may exist."""
        if "ifGenerationMatch" not in args:
            return
        live = self.objects[key][0]["generation"] if key in self.objects else "0"
        if args["ifGenerationMatch"] != live:
            raise StorageError(412, "conditionNotMet", PRECONDITION)

    def _upload_object(self, bucket: str, args: dict[str, str], data: bytes, content_type: str) -> dict[str, Any]:
        if args.get("uploadType") != "media":
            raise StorageError(400, "invalid", "fake: only uploadType=media is implemented")
        if not args.get("name"):
            raise StorageError(400, "required", "Required parameter: name")
        self._bucket(bucket)
        key = (bucket, args["name"])
        self._check_generation(key, args)
        self._generation = max(self._generation + 1, time.time_ns() // 1000)  # microseconds, increasing
        now = _rfc3339()
        meta = {"kind": "storage#object", "id": f"{bucket}/{key[1]}/{self._generation}", "name": key[1],
                "bucket": bucket, "generation": str(self._generation), "metageneration": "1",
                "contentType": content_type, "storageClass": "STANDARD", "size": str(len(data)),
                "md5Hash": base64.b64encode(hashlib.md5(data).digest()).decode(),
                "etag": base64.b64encode(str(self._generation).encode()).decode(),
                "timeCreated": now, "updated": now}
        self.objects[key] = (meta, data)
        return meta

    def _object(self, method: str, bucket: str, name: str, args: dict[str, str]) -> tuple[int, Any]:
        self._bucket(bucket)
        key = (bucket, name)
        pinned = args.get("generation")
        if key not in self.objects or (pinned is not None and pinned != self.objects[key][0]["generation"]):
            raise StorageError(404, "notFound", f"No such object: {bucket}/{name}")
        self._check_generation(key, args)
        meta, data = self.objects[key]
        if method == "GET" and args.get("alt") == "media":
            return 200, Media(data, meta["contentType"], {"X-Goog-Generation": meta["generation"],
                                                          "X-Goog-Metageneration": meta["metageneration"]})
        if method == "GET":
            return 200, meta
        if method == "DELETE":
            del self.objects[key]
            return 204, None
        raise StorageError(405, "methodNotAllowed", method)


def _rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{time.time_ns() // 10**6 % 1000:03d}Z"


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
