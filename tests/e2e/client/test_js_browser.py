"""The JavaScript client in a real browser (headless Chromium), calling a function deployed to `local`.

A page on its own origin imports clients/js/src/index.js as an ES module and calls a function through
the manifest `multicloud endpoints` wrote, with an unreachable target listed first so the browser's
fetch fails over; the answers it posts back equal the Python client's. The function answers CORS itself
(the runtime adds no CORS headers): a browser on another origin needs that, and its preflight carries no
key, which is why the route is `auth: none` (docs/client.md says so).

Needs Debian's `chromium` (.ci/run installs it); it runs headless as root with --no-sandbox.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from multicloud.client import Client
from multicloud.orchestrate import deploy, provider_for
from multicloud.project import Project

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
HANDLER = '''
from multicloud import Response

CORS = {"access-control-allow-origin": "*", "access-control-allow-methods": "GET, POST, OPTIONS",
        "access-control-allow-headers": "content-type"}


def api(event, context):
    req = event.http
    if req.method == "OPTIONS":
        return Response(204, CORS, b"")
    return Response(200, {**CORS, "content-type": "application/json"},
                    {"method": req.method, "query": req.query, "body": req.json() if req.body else None,
                     "served_by": context.target})
'''
SPEC = """\
service: browser
runtime: python3.11
functions:
  api:
    handler: app.api
    triggers:
      - http: {path: /api, methods: [GET, POST, OPTIONS]}
targets:
  local: {}
"""
CALLS: list[dict[str, Any]] = [{"query": {"q": ["a", "b"]}}, {"method": "POST", "body": {"sku": "A-1", "n": 2}}]
PAGE = """<!doctype html><meta charset="utf-8"><title>multicloud-client</title>
<script type="module">
import { Client, UsageError } from "/client/index.js";
const manifest = MANIFEST;
const calls = CALLS;
const out = { answers: [], errors: [] };
try {
  const client = new Client(manifest, { timeoutMs: 10000 });
  for (const call of calls) {
    const reply = await client.call("api", call);
    out.answers.push({ target: reply.target, status: reply.status, json: reply.json() });
  }
  try { await client.call("nope"); } catch (err) { out.errors.push([err.name, err instanceof UsageError]); }
} catch (err) {
  out.errors.push([err.name, String(err)]);
}
await fetch("/result", { method: "POST", body: JSON.stringify(out) });
</script>"""


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("browser") / "svc"
    root.mkdir()
    (root / "app.py").write_text(HANDLER)
    (root / "multicloud.yaml").write_text(SPEC)
    project = Project.load(root)
    deploy(project, "local", lambda _m: None)
    try:
        exe = Path(sys.executable).with_name("multicloud")
        run = subprocess.run([str(exe), "-o", "json", "endpoints", str(root)], capture_output=True, text=True,
                             timeout=120)
        assert run.returncode == 0, run.stderr
        data: dict[str, Any] = json.loads(run.stdout)
        # a target listed first that refuses connections: the browser must move on to local
        live = data["functions"]["api"]["targets"][0]
        data["functions"]["api"]["targets"].insert(0, {**live, "target": "docker",
                                                       "url": f"http://127.0.0.1:{closed_port()}"})
        yield data
    finally:
        provider_for(project, "local").remove()


def serve_page(page: str) -> tuple[ThreadingHTTPServer, list[bytes], threading.Event]:
    posted: list[bytes] = []
    done = threading.Event()
    module = (ROOT / "clients" / "js" / "src" / "index.js").read_bytes()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body, kind = ((module, "text/javascript") if self.path == "/client/index.js"
                          else (page.encode(), "text/html") if self.path == "/" else (b"", "text/plain"))
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802
            posted.append(self.rfile.read(int(self.headers.get("content-length") or 0)))
            self.send_response(204)
            self.end_headers()
            done.set()

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server, posted, done


def test_the_client_runs_in_a_browser_and_fails_over_like_python(manifest: dict[str, Any], tmp_path: Path) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed: `apt-get install chromium` (.ci/run installs it)")
    page = PAGE.replace("MANIFEST", json.dumps(manifest)).replace("CALLS", json.dumps(CALLS))
    server, posted, done = serve_page(page)
    browser = subprocess.Popen(
        [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", f"http://127.0.0.1:{server.server_address[1]}/"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "HOME": str(tmp_path)})
    try:
        assert done.wait(90), "the page never reported back"
    finally:
        browser.terminate()
        try:
            browser.wait(15)
        except subprocess.TimeoutExpired:
            browser.kill()
            browser.wait()
        server.shutdown()
        server.server_close()
    seen = json.loads(posted[0])
    assert seen["errors"] == [["UsageError", True]], seen
    python = Client.from_manifest(manifest)
    expected = []
    for call in CALLS:
        reply = python.call("api", method=call.get("method", "GET"), query=call.get("query"), json=call.get("body"))
        expected.append({"target": reply.target, "status": reply.status, "json": reply.json()})
    assert seen["answers"] == expected
    assert [a["target"] for a in expected] == ["local", "local"]  # docker refused: failed over
    assert expected[1]["json"] == {"method": "POST", "query": {}, "body": {"sku": "A-1", "n": 2},
                                   "served_by": "local"}
