"""Helpers of the client tests, imported by name (`from clients_support import ...`).

* `write_hybrid`: examples/hybrid-clinic as it stands (handlers, placement), deployed to local, docker and
  aws: `slots` (allowed on aws, local: in that order of preference) and `records` (confidential: local, docker).
* `FunctionUrlFront`: moto records Lambda Function URL configs but does not serve the URLs. This small
  HTTP server stands in for the Function URL service of one function: it turns each request into the
  payload 2.0 event and the response mapping the aws provider's `invoke` uses, so the code really runs in
  moto's Lambda container. Test infrastructure only; the manifest the clients read points at it instead of
  the unreachable `*.lambda-url.*.on.aws` host.
* `run_node`: Node's own test runner on a test file, with the cases as JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

E2E = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(E2E))
from e2e_fixtures import fixtures_of  # noqa: E402

aws_fixtures = fixtures_of("aws")
docker_fixtures = fixtures_of("docker")

ROOT = E2E.parent.parent
EXAMPLES = ROOT / "examples"
JS_TESTS = Path(__file__).resolve().parent / "js"


def write_hybrid(root: Path, tag: str) -> Path:
    import yaml

    shutil.copytree(EXAMPLES / "hybrid-clinic", root, ignore=shutil.ignore_patterns(".multicloud", "__pycache__"))
    spec = yaml.safe_load((root / "multicloud.yaml").read_text())
    spec["service"] = docker_fixtures.service_name(tag)
    spec["targets"] = {"local": {}, "aws": {"stage": "test"},
                       "docker": {"base_image": docker_fixtures.BASE_IMAGE,
                                  "labels": {docker_fixtures.TEST_LABEL: docker_fixtures.SESSION}}}
    (root / "multicloud.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return root


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed `multicloud` command in a subprocess (it finds moto through AWS_ENDPOINT_URL)."""
    exe = Path(sys.executable).with_name("multicloud")
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, env=dict(os.environ),
                          timeout=600)


class FunctionUrlFront:
    """One function's Function URL, served on 127.0.0.1 (see the module docstring). `stop()` makes the
    target stop answering (the port refuses connections); `start()` serves again on the same port."""

    def __init__(self, root: Path, function: str) -> None:
        self.root, self.function, self.port = root, function, 0
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FunctionUrlFront:
        from multicloud.orchestrate import provider_for
        from multicloud.project import Project
        from multicloud.provider import InvokeRequest

        provider = provider_for(Project.load(self.root), "aws")
        function = self.function

        class Handler(BaseHTTPRequestHandler):
            def answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                result = provider.invoke(InvokeRequest(function, "http", self.command, self.path,
                                                       dict(self.headers.items()), {}, body))
                status = result.status if result.status is not None else 502  # a function error
                self.send_response(status)
                for name, value in result.headers.items():
                    if name not in ("content-length", "connection", "date", "server"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(result.body)))
                self.end_headers()
                self.wfile.write(result.body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = answer

            def log_message(self, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def run_node(test_file: Path, cases: dict[str, Any], tmp: Path, env: dict[str, str]) -> tuple[int, str]:
    """`node --test` on one file, the cases in MC_CASES; (passed tests, TAP output). Fails on a failure."""
    node = shutil.which("node")
    assert node is not None, "node is not installed: the JavaScript client needs Node 18+ (.ci/run installs it)"
    path = tmp / f"cases-{len(list(tmp.glob('cases-*.json')))}.json"
    path.write_text(json.dumps(cases))
    run = subprocess.run([node, "--test", "--test-reporter=tap", str(test_file)], capture_output=True, text=True,
                         timeout=300, env={**os.environ, **env, "MC_CASES": str(path)})
    assert run.returncode == 0, run.stdout + run.stderr
    counts = {k: int(v) for k, v in (line[2:].split(" ", 1) for line in run.stdout.splitlines()
                                     if line.startswith(("# pass ", "# fail ")))}
    assert counts["fail"] == 0, run.stdout
    return counts["pass"], run.stdout
