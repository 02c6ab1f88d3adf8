"""The docker target through its HAProxy gateway against the local target: same function, same run, same wrk.

One trivial service (`{"hello": "world"}`) is deployed to
  * local:         the runtime on this machine, behind nothing (the supervisor only holds the socket)
  * docker:        the function container behind the gateway, as deployed by default: on a Linux engine the
                   gateway runs on the host network and binds 127.0.0.1:port itself (`gateway_network: auto`)
  * docker-bridge: the same with `gateway_network: bridge` (the fallback for Docker Desktop and rootless
                   engines): a port the engine publishes, which from this host its userland docker-proxy relays
  * container:     the function container's bridge address, no gateway at all: what the container costs
  * local-async, docker-async: the same two deployments' second function, the same answer from an `async def`
                   handler (awaited on the runtime's event loop, no worker thread): compared only
wrk (Debian package `wrk`) loads each in alternating rounds; the ratio docker/local is the figure the goal
is about (issue 13: >= 0.85); docker-async/local-async is printed beside it (`ratio_async_docker_to_local`).
Each row also gives the CPU time per request of the process serving it (the runtime, in or out of its
container), for the gateway rows HAProxy's own and their sum (CPU per request moves less with the machine's
load than requests per second do: the machine is shared), and, for the container, the periods its CPU quota
(`cpus`, 1 by default; the local target has none) throttled it: zero means the limit did not shape the
comparison.
Needs a local Docker Engine and the base image (`multicloud docker base-image`, `multicloud docker
proxy-image` for engines without a registry; `--base-image` picks another).

Usage: python bench/docker_gateway.py [--duration 5] [--connections 16] [--rounds 3] [--cpus 1] [--json]
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from http_runtime import cpu_seconds, wrk, wrk_missing, wrk_parser  # noqa: E402

GOAL = 0.85
SPEC = """
service: {service}
runtime: python3.11
functions:
  hello:
    handler: app.hello
    memory: 256
    timeout: 10
    triggers:
      - http: {{path: /, methods: [GET]}}
  ahello:
    handler: app.ahello
    memory: 256
    timeout: 10
    triggers:
      - http: {{path: /async, methods: [GET]}}
targets:
  local: {{}}
  docker: {{base_image: "{base_image}", gateway_network: {network}, cpus: {cpus},
            labels: {{io.multicloud.bench: "docker-gateway"}}}}
"""
APP = '''
def hello(event, context):
    return {"hello": "world"}


async def ahello(event, context):
    return {"hello": "world"}
'''
ASYNC_ROWS = {"local-async": "local", "docker-async": "docker"}  # row -> the row whose deployment serves it


def wait_ok(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout} s")


def throttled_periods(container_id: str) -> int | None:
    """CFS periods in which the container's CPU quota stopped it (cgroup v1 or v2); None when not readable."""
    for path in (f"/sys/fs/cgroup/cpu/docker/{container_id}/cpu.stat",
                 f"/sys/fs/cgroup/system.slice/docker-{container_id}.scope/cpu.stat",
                 f"/sys/fs/cgroup/docker/{container_id}/cpu.stat"):
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith("nr_throttled "):
                    return int(line.split()[1])
        except OSError:
            continue
    return None


def project_at(root: Path, service: str, base_image: str, network: str, cpus: float) -> Any:
    from multicloud.project import Project

    root.mkdir(parents=True)
    (root / "multicloud.yaml").write_text(SPEC.format(service=service, base_image=base_image, network=network,
                                                      cpus=cpus))
    (root / "app.py").write_text(APP)
    return Project.load(root)


def runtime_pid(container: Any) -> int:
    """The runtime's pid on this host (the container's PID 1 is docker-init, its parent)."""
    pid = int(container.attrs["State"]["Pid"])
    children = Path(f"/proc/{pid}/task/{pid}/children")
    found = children.read_text().split() if children.exists() else []
    return int(found[0]) if found else pid


def main() -> int:
    parser = wrk_parser(__doc__)
    parser.add_argument("--base-image", default="multicloud/python:3.11-bookworm")
    parser.add_argument("--cpus", type=float, default=1.0,
                        help="targets.docker.cpus of the docker deployments (1 is the spec's default; the local "
                        "target has no quota: give the machine's core count to compare without one)")
    args = parser.parse_args()
    if wrk_missing():
        return 3
    engine = True
    try:
        import docker

        docker.from_env().ping()
    except Exception as exc:  # noqa: BLE001 - any failure means no engine to measure
        engine = False
        print(f"no Docker Engine reachable ({type(exc).__name__}: {exc}); the docker side is not measured: start "
              "one (bash .ci/setup-docker.sh does) and pip install 'multicloud[docker]'; measuring the local target "
              "alone", file=sys.stderr)
    from multicloud.providers.local import LocalProvider
    from multicloud.state import build_dir, read_state

    results: dict[str, list[dict[str, float]]] = {}
    throttled: dict[str, int | None] = {}
    networks: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="bench-gw-") as tmp:
        project = project_at(Path(tmp) / "svc", "benchgw", args.base_image, "auto", args.cpus)
        local, dock, bridge = LocalProvider(project), None, None
        try:
            urls = {"local": local.deploy(local.build(build_dir(project, "local"))).details["url"] + "/"}
            pids = {"local": int(read_state(project, "local")["server_pid"])}
            containers: dict[str, Any] = {}
            gateways: dict[str, int] = {}  # row -> HAProxy's pid on this host
            if engine:
                from multicloud.providers.docker import DockerProvider

                dock = DockerProvider(project)
                urls["docker"] = dock.deploy(dock.build(build_dir(project, "docker"))).details["url"] + "/"
                bridge = DockerProvider(
                    project_at(Path(tmp) / "bridge", "benchgwbr", args.base_image, "bridge", args.cpus))
                urls["docker-bridge"] = bridge.deploy(bridge.build(build_dir(bridge.project, "docker"))).details[
                    "url"] + "/"
                for name, provider in (("docker", dock), ("docker-bridge", bridge)):
                    mode = provider.mode()
                    gateway = mode.gateway()
                    networks[name] = "host" if gateway.attrs["HostConfig"]["NetworkMode"] == "host" else "bridge"
                    live = mode.live()
                    live.reload()
                    containers[name] = live
                    pids[name] = runtime_pid(live)
                    gateway.reload()
                    gateways[name] = runtime_pid(gateway)  # HAProxy, under docker-init like the runtime
                address = next(iter(containers["docker"].attrs["NetworkSettings"]["Networks"].values()))["IPAddress"]
                urls["container"] = f"http://{address}:8080/"
                pids["container"] = pids["docker"]  # the same container, reached without the gateway
            for name, of in ASYNC_ROWS.items():  # the same deployments, their async def function
                if of in urls:
                    urls[name], pids[name] = urls[of] + "async", pids[of]
                    if of in gateways:
                        gateways[name] = gateways[of]
            for name, url in urls.items():
                wait_ok(url)
                wrk(url, 2, args.connections, args.threads, pids[name])  # warm-up, not counted
                results[name] = []
            before = {name: throttled_periods(c.id) for name, c in containers.items()}
            for _ in range(args.rounds):
                for name, url in urls.items():
                    gateway_before = cpu_seconds(gateways[name]) if name in gateways else 0.0
                    result = wrk(url, args.duration, args.connections, args.threads, pids[name])
                    if name in gateways:  # requests = req/s x duration (wrk's own count is not returned)
                        used = cpu_seconds(gateways[name]) - gateway_before
                        result["gateway_cpu_us"] = used * 1e6 / max(result["rps"] * args.duration, 1)
                    result["total_cpu_us"] = result["cpu_us_per_request"] + result.get("gateway_cpu_us", 0.0)
                    result["load"] = os.getloadavg()[0]  # the machine is shared: how busy it was
                    results[name].append(result)
            for name, c in containers.items():
                after = throttled_periods(c.id)
                throttled[name] = None if after is None or before[name] is None else after - before[name]  # type: ignore[operator]
        finally:
            for provider in (bridge, dock, local):
                if provider is not None:
                    provider.remove()
    med = {name: {k: statistics.median(r[k] for r in rounds) for k in rounds[0]} for name, rounds in results.items()}
    if "docker" not in med:
        m = med["local"]
        print(f"local (median of {args.rounds}): {m['rps']:,.0f} req/s, p50 {m['p50_ms']:.2f} ms, p99 "
              f"{m['p99_ms']:.2f} ms; docker: not measured (no engine)")
        return 0
    ratio = med["docker"]["rps"] / med["local"]["rps"]
    ratio_async = round(med["docker-async"]["rps"] / med["local-async"]["rps"], 3)
    ratios = {name: round(m["rps"] / med["local"]["rps"], 3) for name, m in med.items() if name != "local"}
    summary = {"load": {"tool": "wrk", "connections": args.connections, "duration_s": args.duration,
                        "rounds": args.rounds, "cpus": os.cpu_count(), "loadavg": os.getloadavg()[0],
                        "docker_cpus": args.cpus},
               "rounds": results, "median": med, "ratio_to_local": ratios, "goal": GOAL,
               "ratio_async_docker_to_local": ratio_async,
               "gateway_network": networks, "cpu_quota_throttled_periods": throttled}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, {args.rounds} alternating rounds, "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, docker cpus {args.cpus:g}")
        print(f"{'target':<16}{'round':>6}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'cpu us':>8}{'gw us':>7}"
              f"{'sum us':>8}{'non-2xx':>9}{'load':>6}")

        def gw(r: dict[str, float]) -> str:
            return f"{r['gateway_cpu_us']:>7.0f}" if "gateway_cpu_us" in r else f"{'-':>7}"

        for name, rounds in results.items():
            for i, r in enumerate(rounds, 1):
                print(f"{name:<16}{i:>6}{r['rps']:>10,.0f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}"
                      f"{r['cpu_us_per_request']:>8.0f}{gw(r)}{r['total_cpu_us']:>8.0f}{int(r['non_2xx']):>9}"
                      f"{r['load']:>6.1f}")
        for name, m in med.items():
            print(f"{name + ' (median)':<22}{m['rps']:>10,.0f}{m['p50_ms']:>9.2f}{m['p99_ms']:>9.2f}"
                  f"{m['cpu_us_per_request']:>8.0f}{gw(m)}{m['total_cpu_us']:>8.0f}")
        print("cpu us: CPU time per request of the runtime process serving the row; gw us: HAProxy's (gateway rows);"
              " sum us: both")
        print("gateway network: " + ", ".join(f"{k} {v}" for k, v in networks.items()))
        print("CPU quota throttled periods of the function containers during all rounds: "
              + ", ".join(f"{k} {'unknown' if v is None else v}" for k, v in throttled.items()))
        verdict = "met" if ratio >= GOAL else "NOT met"
        print(f"docker through the gateway / local: {ratio:.2f}x (goal >= {GOAL}: {verdict})")
        print(f"  docker-async / local-async (async def handler): {ratio_async:.2f}x (compared only)")
        for name, value in ratios.items():
            print(f"  {name} / local: {value:.2f}x")
    return 0 if ratio >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
