"""Helpers of the dashboard e2e tests, imported by name (`from dashboard_support import ...`): a service
that runs on local, docker and aws alike (with a secret, a failing function and a queue function), the
real `multicloud dashboard` command in a subprocess, Debian's chromium driven by Playwright, and a raw
HTTP client that sees every byte a browser would get."""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

E2E = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(E2E))
from e2e_fixtures import fixtures_of  # noqa: E402

aws_fixtures = fixtures_of("aws")
docker_fixtures = fixtures_of("docker")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SECRET_VALUE = f"s3cr3t-dashboard-{secrets.token_hex(8)}"  # must never reach a page

APP = '''
import os
from pathlib import Path

from multicloud import Response


def hello(event, context):
    name = event.http.query.get("name", ["world"])[0]
    context.logger.info("greeting", who=name)
    return {"hello": name, "version": os.environ.get("VERSION"), "target": context.target}


def vault(event, context):
    """Holds a secret (API_KEY) and says only how long it is."""
    return {"secret_len": len(os.environ.get("API_KEY", "")), "target": context.target}


def boom(event, context):
    raise RuntimeError("boom on purpose")


def work(event, context):
    """Fails while the message's `flag` file exists; then writes its `done` file (the proof it ran)."""
    for message in event.messages:
        data = message.json()
        if Path(data["flag"]).exists():
            raise RuntimeError("not yet: the flag file is still there")
        Path(data["done"]).write_text(message.text)
'''


def write_service(root: Path, tag: str, *, version: str = "v1", targets: tuple[str, ...] = ("local",)) -> Path:
    """One service: `hello` (http), `vault` (http, with the secret API_KEY; private targets only), `boom`
    (http, always 500) and `work` (a queue, local only). Listed targets are configured; docker and aws use
    the test fixtures' settings."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "app.py").write_text(APP)
    blocks = {
        "local": "  local: {}",
        "docker": f"  docker:\n    base_image: {docker_fixtures.BASE_IMAGE}\n"
                  f"    labels: {{{docker_fixtures.TEST_LABEL}: \"{docker_fixtures.SESSION}\"}}",
        "aws": "  aws:\n    stage: test",
    }
    local_only = "{" + ", ".join(f"{t}: {{enabled: false}}" for t in targets if t != "local") + "}"
    private_only = "{" + ", ".join(f"{t}: {{enabled: false}}" for t in targets if t == "aws") + "}"
    (root / "multicloud.yaml").write_text(textwrap.dedent(f"""\
        service: {docker_fixtures.service_name(tag)}
        runtime: python3.11
        functions:
          hello:
            handler: app.hello
            memory: 128
            timeout: 10
            env: {{VERSION: {version}}}
            triggers:
              - http: {{path: /hello, methods: [GET, POST]}}
          vault:
            handler: app.vault
            memory: 128
            timeout: 10
            secrets:
              API_KEY: {{local: "env:DASH_API_KEY", docker: "env:DASH_API_KEY"}}
            triggers:
              - http: {{path: /vault, methods: [GET]}}
            targets: {private_only}
          boom:
            handler: app.boom
            memory: 128
            timeout: 10
            triggers:
              - http: {{path: /boom, methods: [GET]}}
          work:
            handler: app.work
            memory: 128
            timeout: 10
            triggers:
              - queue: {{name: jobs, batch_size: 1, max_attempts: 2}}
            targets: {local_only}
        targets:
        """) + "\n".join(blocks[t] for t in targets) + "\n")
    return root


def deploy(root: Path, target: str) -> Any:
    from multicloud.orchestrate import deploy as deploy_target
    from multicloud.project import Project

    os.environ["DASH_API_KEY"] = SECRET_VALUE
    return deploy_target(Project.load(root), target, lambda _m: None)


def remove_everywhere(root: Path, targets: tuple[str, ...]) -> None:
    from multicloud.orchestrate import provider_for
    from multicloud.project import Project

    project = Project.load(root)
    for target in targets:
        try:
            provider_for(project, target).remove()
        except Exception:  # noqa: BLE001 - nothing there, or the engine's label cleanup takes it
            pass


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: str


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def fetch(url: str, *, method: str = "GET", headers: dict[str, str] | None = None, data: bytes | None = None,
          timeout: float = 60) -> Answer:
    """One raw request (no redirects followed, no cookies kept): what the server sends, byte for byte."""
    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with opener.open(request, timeout=timeout) as resp:
            return Answer(resp.status, dict(resp.headers), resp.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as err:
        return Answer(err.code, dict(err.headers), err.read().decode("utf-8", "replace"))


def sse_read(url: str, seconds: float, headers: dict[str, str] | None = None) -> str:
    """What a server-sent event stream sends in `seconds` (then the client hangs up), read off the socket."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    lines = [f"GET {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1",
             f"Host: {parts.netloc}", "Accept: text/event-stream", "Connection: close",
             *(f"{k}: {v}" for k, v in (headers or {}).items())]
    chunks: list[bytes] = []
    with socket.create_connection((parts.hostname, parts.port or 80), timeout=0.5) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks).decode("utf-8", "replace")


class CliDashboard:
    """`multicloud dashboard ...` as a user starts it; `url` (and `token` on a non-loopback host) are read
    from what it prints. `stop()` sends Ctrl-C (SIGINT) and waits for it to exit."""

    def __init__(self, *args: str, cwd: Path) -> None:
        exe = Path(sys.executable).with_name("multicloud")
        self.proc = subprocess.Popen([str(exe), "dashboard", *args], cwd=cwd, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=dict(os.environ))
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        match = re.match(r"dashboard: (\S+?)(?:\?token=(\S+))?$", first.strip())
        if match is None:
            self.proc.kill()
            errors = self.proc.stderr.read() if self.proc.stderr else ""
            raise AssertionError(f"unexpected first line {first!r}: {errors}")
        self.url, self.token = match.group(1), match.group(2)
        self.printed = first + self.proc.stdout.readline() + (self.proc.stdout.readline() if self.token else "")
        self.port = int(self.url.rsplit(":", 1)[1].strip("/"))
        self.local_url = f"http://127.0.0.1:{self.port}/"

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("the dashboard did not stop on Ctrl-C within 15 s") from None


def launch_chromium(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


def wait_for(predicate: Any, timeout: float, what: str, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)
