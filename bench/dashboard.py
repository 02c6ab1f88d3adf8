"""The dashboard's first render for 10 services x 5 targets once the status cache is warm, against the
500 ms ceiling of issue 17, and the most status reads in flight per target while pages are polled.

How the 50 cells are produced (every status is a real read, nothing is faked):
* local  - 10 services deployed to the embedded target (10 supervisors and servers): healthy cells.
* aws    - the same 10 deployed to moto (in-process server, boto3 through AWS_ENDPOINT_URL): healthy cells.
* docker - read from the Docker Engine, where they are not deployed: "not deployed" cells (with
           --deploy-docker they are deployed first: 20 containers, a few minutes on 2 cores).
* azure  - read without a subscription id: the provider's own error, at once (no network): error cells.
* gcp    - read with the API endpoints overridden to a closed port on 127.0.0.1 (no credentials, no
           network): error cells.
Without moto (pip install 'multicloud[test]') or an engine the aws or docker cells are error cells too; the
render is measured all the same.

    python bench/dashboard.py [--services 10] [--renders 30] [--deploy-docker] [--browser]

`--browser` also times chromium (Debian's, through Playwright) loading the page until the matrix is shown.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CEILING_MS = 500.0
TARGETS = ("local", "docker", "aws", "azure", "gcp")
BASE_IMAGE = "multicloud/python:3.11-bookworm"
APP = '''
def hello(event, context):
    return {"hello": event.http.query.get("name", ["world"])[0]}


def report(event, context):
    return "ok"
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_service(root: Path, i: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "app.py").write_text(APP)
    (root / "multicloud.yaml").write_text(f"""\
service: bench-dash-{i:02d}
runtime: python3.11
functions:
  hello:
    handler: app.hello
    triggers:
      - http: {{path: /hello, methods: [GET]}}
  report:
    handler: app.report
    triggers:
      - http: {{path: /report, methods: [GET]}}
targets:
  local: {{}}
  docker: {{base_image: {BASE_IMAGE}, labels: {{io.multicloud.bench: dashboard}}}}
  aws: {{stage: bench}}
  azure: {{}}
  gcp: {{project: bench-project}}
""")
    return root


def start_moto() -> Any | None:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        print("aws: moto is not installed (pip install 'multicloud[test]'): the aws cells will be error cells")
        return None
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request otherwise
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    os.environ.update({"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "bench",
                       "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"})
    os.environ.pop("AWS_PROFILE", None)
    return server


def offline_clouds() -> None:
    """azure and gcp are read for real, but can reach nothing: no subscription; endpoints on a closed port."""
    os.environ.pop("AZURE_SUBSCRIPTION_ID", None)
    closed = f"http://127.0.0.1:{free_port()}/"
    for api in ("CLOUDFUNCTIONS", "CLOUDSCHEDULER", "RUN", "LOGGING", "STORAGE"):
        os.environ[f"CLOUDSDK_API_ENDPOINT_OVERRIDES_{api}"] = closed


def get(url: str) -> tuple[float, int, int]:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as resp:
        body = resp.read()
        status = resp.status
    return (time.perf_counter() - start) * 1000, status, len(body)


def browser_render(url: str) -> list[float] | None:
    chromium = Path("/usr/bin/chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("browser: playwright is not installed (pip install 'multicloud[test]'): skipped")
        return None
    if not chromium.exists():
        print("browser: /usr/bin/chromium is missing (apt-get install chromium): skipped")
        return None
    times = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=[
            "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1600, "height": 1200})
        for _ in range(6):
            page.goto(url)
            page.locator("table.matrix td.cell").nth(49).wait_for()
            # the browser's own clock: from the start of the navigation until the page finished loading
            # (HTML parsed, stylesheet and scripts run, first layout done)
            times.append(float(page.evaluate(
                "performance.getEntriesByType('navigation')[0].loadEventEnd")))
        browser.close()
    print("chromium, each load (ms): " + ", ".join(f"{t:.0f}" for t in times))
    return times[1:]  # the first one also starts the browser's renderer process


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", type=int, default=10)
    parser.add_argument("--renders", type=int, default=30)
    parser.add_argument("--deploy-docker", action="store_true")
    parser.add_argument("--browser", action="store_true")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    try:
        import starlette  # noqa: F401 - the dashboard's web stack, from the 'dashboard' extra
    except ModuleNotFoundError:
        print("the dashboard's web stack is not installed, so there is nothing to measure: "
              "pip install 'multicloud[dashboard]' (and 'multicloud[test]' for the moto cells)")
        return 0
    from multicloud.dashboard.app import Dashboard, Settings
    from multicloud.dashboard.board import load_services
    from multicloud.dashboard.cache import StatusCache
    from multicloud.dashboard.server import Background
    from multicloud.orchestrate import deploy, provider_for
    from multicloud.project import Project
    from multicloud.provider import Provider, StatusReport

    moto = start_moto()
    offline_clouds()
    work = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    roots = [write_service(work / f"s{i:02d}", i) for i in range(args.services)]
    deployed: dict[str, int] = Counter()
    t0 = time.perf_counter()
    for root in roots:
        project = Project.load(root)
        for target in ("local", "aws", *(("docker",) if args.deploy_docker else ())):
            try:
                deploy(project, target, lambda _m: None)
                deployed[target] += 1
            except Exception as exc:  # noqa: BLE001 - a bench measures what it can and says what it could not
                print(f"{target}: deploy of {project.name} failed: {exc}")
    print(f"deployed {dict(deployed)} in {time.perf_counter() - t0:.1f} s")

    lock = threading.Lock()
    in_flight: Counter[str] = Counter()
    peak: Counter[str] = Counter()
    reads: Counter[str] = Counter()

    def counted(provider: Provider) -> StatusReport:
        with lock:
            in_flight[provider.name] += 1
            reads[provider.name] += 1
            peak[provider.name] = max(peak[provider.name], in_flight[provider.name])
        try:
            return provider.status()
        finally:
            with lock:
                in_flight[provider.name] -= 1

    services = load_services(roots)
    status = StatusCache(services, refresh_s=2.0, read=counted)
    dashboard = Dashboard(services, Settings(refresh_s=2.0, plans=False), token=None, csrf="bench", status=status)
    server = Background(dashboard).start()
    try:
        t0 = time.perf_counter()
        while not all(status.get((s.key, t)) is not None for s in services for t in TARGETS):
            time.sleep(0.05)
        warm_s = time.perf_counter() - t0
        health = Counter(dashboard.cell(s, t).health for s in services for t in TARGETS)
        print(f"status cache warm after {warm_s:.2f} s: {sum(health.values())} cells {dict(health)}")
        rounds = {t: max(status.get((s.key, t)).duration_s for s in services)  # type: ignore[union-attr]
                  for t in TARGETS}
        print("slowest status read per target: " + ", ".join(f"{t} {v * 1000:.0f} ms" for t, v in rounds.items()))

        first_ms, code, size = get(server.url)  # the first render: templates compiled on this request
        assert code == 200
        times = [get(server.url)[0] for _ in range(args.renders)]
        fragment = [get(server.url + "fragments/matrix")[0] for _ in range(args.renders)]
        api = [get(server.url + "api/board")[0] for _ in range(args.renders)]
        p50, p95 = statistics.median(times), sorted(times)[int(len(times) * 0.95) - 1]
        print(f"first render of / ({size} bytes, {len(services)} services x {len(TARGETS)} targets): "
              f"{first_ms:.1f} ms = {first_ms / CEILING_MS:.3f} x the {CEILING_MS:.0f} ms ceiling")
        print(f"later renders of /: median {p50:.1f} ms, p95 {p95:.1f} ms = {p95 / CEILING_MS:.3f} x ceiling "
              f"(n={len(times)}); matrix fragment median {statistics.median(fragment):.1f} ms; "
              f"/api/board median {statistics.median(api):.1f} ms")
        if args.browser:
            loads = browser_render(server.url)
            if loads:
                print(f"chromium: navigation start to load event, median {statistics.median(loads):.0f} ms "
                      f"= {statistics.median(loads) / CEILING_MS:.3f} x ceiling (n={len(loads)}, after the first)")
        # pages keep polling for a few seconds while the workers go round: count reads in flight
        stop = time.monotonic() + 4
        while time.monotonic() < stop:
            get(server.url + "fragments/matrix")
        print(f"status reads: {dict(reads)}; most in flight per target at once: {dict(peak)} (ceiling 1)")
    finally:
        server.stop()
        for root in roots:
            for target in ("local", *(("docker",) if args.deploy_docker else ())):
                try:
                    provider_for(Project.load(root), target).remove()
                except Exception:  # noqa: BLE001
                    pass
        if moto is not None:
            moto.stop()
        if args.deploy_docker:  # the images this bench built (labelled), not anybody else's
            import docker

            client = docker.from_env()
            for image in client.images.list(filters={"label": "io.multicloud.bench=dashboard"}):
                try:
                    client.images.remove(image.id, force=True)
                except docker.errors.APIError:
                    pass
    return 0 if max(peak.values()) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
