"""Take the README's dashboard screenshots (docs/img/dashboard-*.png) from a real run: three services
deployed to local and to aws (moto), one to docker (the engine) whose container is then stopped, some
traffic (a few failing calls among them), one spec edited after its deploy; then Debian's chromium,
driven by Playwright, photographs the matrix and one cell's page.

    python docs/screenshots.py [--no-docker]

Needs the test extra (moto, playwright), /usr/bin/chromium and, without --no-docker, the Docker Engine
with the air-gapped base image (`multicloud docker base-image`).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMG = ROOT / "docs" / "img"
BASE_IMAGE = "multicloud/python:3.11-bookworm"
APP = '''
import time


def api(event, context):
    time.sleep(float(event.http.query.get("ms", ["5"])[0]) / 1000)
    context.logger.info("order read", order=event.http.path_params.get("id"))
    return {"order": event.http.path_params.get("id"), "status": "shipped"}


def refund(event, context):
    if event.http.query.get("fail"):
        raise RuntimeError("payment provider timed out")
    return {"refunded": True}
'''


def spec(name: str, docker: bool, env: str = "v1") -> str:
    return f"""\
service: {name}
runtime: python3.11
functions:
  api:
    handler: app.api
    env: {{RELEASE: {env}}}
    triggers:
      - http: {{path: "/orders/{{id}}", methods: [GET]}}
  refund:
    handler: app.refund
    triggers:
      - http: {{path: /refund, methods: [POST]}}
targets:
  local: {{}}
{"  docker: {base_image: " + BASE_IMAGE + ", labels: {io.multicloud.screenshots: 'true'}}" if docker else ""}
  aws: {{stage: prod}}
"""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-docker", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from moto.server import ThreadedMotoServer
    from playwright.sync_api import sync_playwright

    from multicloud.dashboard.app import Dashboard, Settings
    from multicloud.dashboard.board import load_services
    from multicloud.dashboard.server import Background
    from multicloud.orchestrate import deploy, provider_for
    from multicloud.project import Project
    from multicloud.provider import InvokeRequest

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    os.environ.update({"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "shots",
                       "AWS_SECRET_ACCESS_KEY": "shots", "AWS_DEFAULT_REGION": "eu-west-1",
                       "MULTICLOUD_DEPLOYER": "ada@ci-runner-7"})
    work = Path(tempfile.mkdtemp(prefix="mc-shots-"))
    names = {"orders": True, "payments": not args.no_docker, "inventory": False}
    roots = {}
    for name, docker in names.items():
        root = work / name
        root.mkdir()
        (root / "app.py").write_text(APP)
        (root / "multicloud.yaml").write_text(spec(name, docker))
        roots[name] = root
    try:
        for root in roots.values():
            project = Project.load(root)
            for target in project.default_targets():
                deploy(project, target, lambda _m: None)
        (roots["inventory"] / "multicloud.yaml").write_text(spec("inventory", False, "v2"))  # not deployed yet
        rng = random.Random(7)
        local = provider_for(Project.load(roots["orders"]), "local")
        for i in range(120):  # 40 s of traffic whose latency swells and settles: the sparkline has a shape
            ms = 8 + 30 * math.sin(i / 120 * math.pi) ** 2 + rng.randint(0, 6)
            local.invoke(InvokeRequest("api", path=f"/orders/{1000 + i}", query={"ms": [f"{ms:.0f}"]}))
            time.sleep(0.3)
            if i % 17 == 0:
                local.invoke(InvokeRequest("refund", method="POST", query={"fail": ["1"]}))
            elif i % 3 == 0:
                local.invoke(InvokeRequest("refund", method="POST"))
        if not args.no_docker:
            live = provider_for(Project.load(roots["payments"]), "docker").mode().live()  # type: ignore[attr-defined]
            live.stop(timeout=1)
        services = load_services(list(roots.values()))
        dashboard = Dashboard(services, Settings(refresh_s=2.0, plan_interval_s=0), token=None, csrf="shots")
        server = Background(dashboard).start()
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not all(
                    dashboard.status.get((s.key, t)) and dashboard.plans.get((s.key, t))
                    for s in services for t in s.targets):
                time.sleep(0.2)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
                    "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync"])
                page = browser.new_page(viewport={"width": 1280, "height": 640}, device_scale_factor=1)
                page.on("dialog", lambda d: d.accept())
                page.goto(server.url)
                page.locator("table.matrix td.cell").first.wait_for()
                page.wait_for_timeout(500)
                IMG.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(IMG / "dashboard-matrix.png"), full_page=True)
                page.set_viewport_size({"width": 1280, "height": 900})
                page.goto(f"{server.url}s/orders/local")
                page.fill('input[name="path"]', "/orders/4711")
                page.click("#invoke")
                page.locator("#invoke-result pre.answer").wait_for()
                page.locator("#metrics table.metrics").wait_for()
                page.locator("#log-tail li").nth(5).wait_for()
                page.wait_for_timeout(1500)
                page.screenshot(path=str(IMG / "dashboard-cell.png"), full_page=True)
                browser.close()
        finally:
            server.stop()
    finally:
        for root in roots.values():
            project = Project.load(root)
            for target in project.default_targets():
                try:
                    provider_for(project, target).remove()
                except Exception:  # noqa: BLE001
                    pass
        moto.stop()
        if not args.no_docker:  # the images this script built (labelled), not anybody else's
            import docker

            client = docker.from_env()
            for image in client.images.list(filters={"label": "io.multicloud.screenshots=true"}):
                try:
                    client.images.remove(image.id, force=True)
                except docker.errors.APIError:
                    pass
    print(f"wrote {IMG / 'dashboard-matrix.png'} and {IMG / 'dashboard-cell.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
