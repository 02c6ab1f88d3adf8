"""Run a built Lambda zip with AWS's own runtime interface client (awslambdaric) against a local Runtime API.

`awslambdaric` is the library inside Lambda's Python images: it loads the handler string (here
`_multicloud_entry.<function>`) from the task root exactly as Lambda does and talks to the Runtime API
(`/2018-06-01/runtime/invocation/next`, `.../response`, `.../error`). `RuntimeApi` serves that API on
127.0.0.1 with the standard library, one event at a time, so a test can invoke the unzipped package the
way Lambda would and read back what the handler returned. The client runs with `python -S` and only the
task root and awslambdaric's own folder on its path, so nothing from the test environment leaks in.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PREFIX = "/2018-06-01/runtime"


class InvocationError(Exception):
    """The function raised (or failed to start): Lambda's error payload."""

    def __init__(self, payload: dict[str, Any]) -> None:
        self.payload = payload
        super().__init__(json.dumps(payload)[:2000])


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the client going away (it is stopped between tests) is not an error here


class RuntimeApi:
    def __init__(self) -> None:
        self.events: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self.results: dict[str, tuple[str, Any]] = {}
        self.done = threading.Condition()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # the client (aws-lambda-cpp over libcurl) keeps its connection

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path != f"{PREFIX}/invocation/next":
                    self.send_error(404)
                    return
                request_id, event = api.events.get()
                body = json.dumps(event).encode()
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30_000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                                 "arn:aws:lambda:us-east-1:123456789012:function:corpus")
                self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = self.path[len(PREFIX):].strip("/").split("/")
                if parts[:2] == ["init", "error"]:
                    api._finish("init", "error", data)
                elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                    api._finish(parts[1], parts[2], data)
                else:
                    self.send_error(404)
                    return
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _finish(self, request_id: str, kind: str, data: bytes) -> None:
        try:
            payload = json.loads(data) if data else None
        except ValueError:
            payload = data.decode(errors="replace")
        with self.done:
            self.results[request_id] = (kind, payload)
            self.done.notify_all()

    def invoke(self, event: dict[str, Any], timeout: float = 60) -> Any:
        request_id = str(uuid.uuid4())
        self.events.put((request_id, event))
        deadline = time.monotonic() + timeout
        with self.done:
            while request_id not in self.results and "init" not in self.results:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"the function gave no answer in {timeout} s")
                self.done.wait(left)
        kind, payload = self.results.pop(request_id, None) or self.results["init"]
        if kind == "error":
            raise InvocationError(payload if isinstance(payload, dict) else {"errorMessage": str(payload)})
        return payload

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class LambdaProcess:
    """`python -S -m awslambdaric HANDLER` in the task root, fed by a RuntimeApi."""

    def __init__(self, task_root: Path, handler: str, ric_path: Path, env: dict[str, str],
                 paths: tuple[Path, ...] = (), python: str = sys.executable) -> None:
        self.api = RuntimeApi()
        full_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "AWS_LAMBDA_RUNTIME_API": self.api.address,
            "LAMBDA_TASK_ROOT": str(task_root),
            "LAMBDA_RUNTIME_DIR": str(ric_path),
            "PYTHONPATH": ":".join(str(p) for p in (task_root, *paths, ric_path)),
            **{k: v for k, v in env.items() if k != "PYTHONPATH"},
            "_HANDLER": handler,
            "AWS_LAMBDA_FUNCTION_NAME": "corpus",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        if env.get("PYTHONPATH"):  # the function's own, after the runtime's (as Lambda's bootstrap keeps it)
            full_env["PYTHONPATH"] += ":" + env["PYTHONPATH"]
        self.log = task_root.parent / f"{handler.replace('.', '_').replace('/', '_')}-{uuid.uuid4().hex[:6]}.log"
        self._log = self.log.open("wb")
        self.proc = subprocess.Popen([python, "-S", "-m", "awslambdaric", handler], cwd=task_root,
                                     env=full_env, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

    def invoke(self, event: dict[str, Any], timeout: float = 60) -> Any:
        try:
            return self.api.invoke(event, timeout)
        except TimeoutError as exc:
            self._log.flush()
            raise TimeoutError(f"{exc}; the client's output:\n{self.output()}") from None

    def output(self) -> str:
        self._log.flush()
        return self.log.read_text(errors="replace")[-3000:]

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()
        self.api.close()
