"""Queue triggers on the private targets: messages per second a no-op queue function (batch 10) handles, and
send-to-handler latency p50/p99 at a fixed 500 msg/s, against a bare nats-py consumer doing the same work on
the same broker in the same run (the ceiling).

Per target (local: the supervisor's runtime process and nats-server; docker: the function container and the
broker container, single mode):
  * throughput: the runtime is frozen (SIGSTOP / `docker pause`), N messages are published to its queue, it
    is thawed and timed until its consumer reports nothing pending. The ceiling: the same N messages in a
    second work-queue stream on the same broker, drained by a plain nats-py loop (`fetch(10)`, ack each;
    no handler, no event object, no thread hop), timed from its first message. On docker the ceiling runs in
    a container of the function's image on the service's network, like the function.
  * latency: messages carry their send time; 500 msg/s for --seconds; the handler (ours) and the bare loop
    record now - send time when they get each message. Publishers run on the host for both.
Goals: throughput >= 0.5x the ceiling, p99 under 25 ms.

Usage: python bench/events.py [--targets local,docker] [--messages 20000] [--seconds 10] [--json]
Needs nats-server (apt-get install nats-server) for local; for docker an engine with the base image and the
broker image (`multicloud docker base-image`, `multicloud docker broker-image`): a missing peer is reported
and the rest measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

RATE = 500
GOAL_RATIO = 0.5
GOAL_P99_MS = 25.0
APP = '''
import time


def noop(event, context):
    return None


def lat(event, context):
    now = time.time()
    context.logger.info("lat", ms=[round((now - float(m.body)) * 1000, 3) for m in event.messages])
'''
SPEC = """\
service: {service}
functions:
  noop:
    handler: app.noop
    timeout: 30
    memory: 256
    triggers:
      - queue: {{name: load, batch_size: 10, max_attempts: 3}}
  lat:
    handler: app.lat
    timeout: 30
    memory: 256
    triggers:
      - queue: {{name: latency, batch_size: 10, max_attempts: 3}}
targets:
  local: {{}}
  docker: {{base_image: "{base}", broker_image: "{broker}", labels: {{io.multicloud.bench: events}}}}
"""
BARE = r'''
import asyncio, json, sys, time
import nats

async def main(url, user, password, stream, mode, n, seconds):
    nc = await nats.connect(url, user=user, password=password)
    js = nc.jetstream()
    sub = await js.pull_subscribe_bind("bare", stream)
    got, lat, t0 = 0, [], None
    deadline = time.monotonic() + (seconds + 30 if mode == "latency" else 600)
    while got < n and time.monotonic() < deadline:
        try:
            msgs = await sub.fetch(10, timeout=1)
        except Exception:
            continue
        now = time.time()
        if t0 is None:
            t0 = time.perf_counter()
        for m in msgs:
            if mode == "latency":
                lat.append((now - float(m.data)) * 1000)
            await m.ack()
        got += len(msgs)
    elapsed = time.perf_counter() - t0 if t0 else 0.0
    await nc.close()
    print(json.dumps({"n": got, "seconds": elapsed, "lat": lat}))

asyncio.run(main(*sys.argv[1:6], int(sys.argv[6]), float(sys.argv[7])))
'''


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


# ---- broker helpers (the admin user; the bench makes its own streams for the bare consumer) ----------------
async def _publish(url: str, password: str, subject: str, count: int, rate: float | None) -> None:
    import nats

    nc = await nats.connect(url, user="admin", password=password)
    js = nc.jetstream(timeout=30)
    if rate is None:
        for start in range(0, count, 500):
            await asyncio.gather(*[js.publish(subject, b"%d" % i) for i in range(start, min(count, start + 500))])
    else:
        began = time.perf_counter()
        for i in range(count):
            delay = began + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await nc.publish(subject, repr(time.time()).encode())  # core publish: no wait for the ack
        await nc.flush()
    await nc.close()


def publish(url: str, password: str, subject: str, count: int, rate: float | None = None) -> None:
    asyncio.run(_publish(url, password, subject, count, rate))


def bare_stream(url: str, password: str, name: str, subject: str) -> None:
    async def main() -> None:
        import nats
        from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StreamConfig

        nc = await nats.connect(url, user="admin", password=password)
        js = nc.jetstream()
        try:
            await js.delete_stream(name)
        except Exception:  # noqa: BLE001 - not there yet
            pass
        await js.add_stream(StreamConfig(name=name, subjects=[subject], retention=RetentionPolicy.WORK_QUEUE))
        await js.add_consumer(name, ConsumerConfig(durable_name="bare", ack_policy=AckPolicy.EXPLICIT, ack_wait=60))
        await nc.close()

    asyncio.run(main())


def wait_drained(url: str, password: str, stream: str, consumer: str, timeout: float = 600) -> float:
    """Poll the consumer until nothing is pending or unacknowledged; the moment it was seen so."""
    async def main() -> float:
        import nats

        nc = await nats.connect(url, user="admin", password=password)
        js = nc.jetstream()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = await js.consumer_info(stream, consumer)
            if info.num_pending == 0 and info.num_ack_pending == 0:
                await nc.close()
                return time.perf_counter()
            await asyncio.sleep(0.01)
        raise SystemExit(f"{stream}/{consumer} did not drain within {timeout} s")

    return asyncio.run(main())


def log_docs(lines: str) -> list[dict[str, Any]]:
    from multicloud.access_log import records

    return list(records(lines.splitlines()))


def latencies_from(lines: str) -> list[float]:
    return [float(x) for d in log_docs(lines) if d.get("message") == "lat" for x in d["ms"]]


# ---- one target ------------------------------------------------------------------------------------------
class Target:
    name = ""

    def __init__(self, root: Path) -> None:
        from multicloud.orchestrate import provider_for
        from multicloud.project import Project

        self.root = root
        self.project = Project.load(root)
        self.provider = provider_for(self.project, self.name)

    def deploy(self) -> None:
        from multicloud.state import build_dir

        self.provider.deploy(self.provider.build(build_dir(self.project, self.name)))

    def channel(self, queue: str) -> Any:
        from multicloud.broker.topology import topology

        return topology(self.project, self.name).channel("queue", queue)


class LocalTarget(Target):
    name = "local"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.dir = root / ".multicloud" / "local"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{json.loads((self.dir / 'broker' / 'broker.json').read_text())['port']}"

    @property
    def password(self) -> str:
        return str(json.loads((self.dir / "broker" / "passwords.json").read_text())["admin"])

    def server_pid(self) -> int:
        from multicloud.providers.local import control

        return int(control.call(control.control_path(self.dir), {"cmd": "status"})["server_pid"])

    def freeze(self, frozen: bool) -> None:
        os.kill(self.server_pid(), signal.SIGSTOP if frozen else signal.SIGCONT)

    def logs(self) -> str:
        return (self.dir / "service.log").read_text(errors="replace")

    def bare(self, stream: str, mode: str, n: int, seconds: float) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-c", BARE, self.url, "admin", self.password, stream, mode, str(n),
                                 str(seconds)], stdout=subprocess.PIPE, text=True)


class DockerTarget(Target):
    name = "docker"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        from multicloud.providers.docker.single import Single

        self.mode = self.provider.mode()
        assert isinstance(self.mode, Single)

    def admin(self) -> Any:
        return self.mode.broker().admin()

    @property
    def url(self) -> str:
        return str(self.admin().servers[0])

    @property
    def password(self) -> str:
        return str(self.admin().password)

    def freeze(self, frozen: bool) -> None:
        live = self.mode.live()
        live.pause() if frozen else live.unpause()

    def logs(self) -> str:
        return str(self.mode.live().logs().decode(errors="replace"))

    def bare(self, stream: str, mode: str, n: int, seconds: float) -> subprocess.Popen[str]:
        live = self.mode.live()
        image = live.attrs["Config"]["Image"]
        inside = f"nats://mc-{self.project.name}-broker:4222"
        return subprocess.Popen(["docker", "run", "--rm", "--network", f"mc-{self.project.name}", "--cpus", "1",
                                 "-e", "PYTHONPATH=/opt/multicloud/deps", "--label", "io.multicloud.bench=events",
                                 image, "python3", "-c", BARE, inside, "admin", self.password, stream, mode, str(n),
                                 str(seconds)], stdout=subprocess.PIPE, text=True)


def measure(target: Target, messages: int, seconds: float) -> dict[str, float]:
    url, password = target.url, target.password
    service = target.project.name
    load, lat = target.channel("load"), target.channel("latency")
    out: dict[str, float] = {}
    # throughput: ours
    target.freeze(True)
    try:
        publish(url, password, load.subject, messages)
    finally:
        target.freeze(False)
    t0 = time.perf_counter()
    t1 = wait_drained(url, password, load.stream, "fn-noop")
    out["ours_msgs_per_s"] = messages / (t1 - t0)
    time.sleep(0.5)
    handled = sum(int(d.get("messages", 0)) for d in log_docs(target.logs())
                  if d.get("type") == "event" and d.get("function") == "noop" and not d.get("failed"))
    if handled < messages:  # the handler really ran once per message (a drained queue alone would not say)
        raise SystemExit(f"{target.name}: the handler saw {handled} of {messages} messages")
    # throughput: the bare consumer, same broker, same count
    bare_stream(url, password, "bench-bare", f"mc.{service}.bench.bare")
    publish(url, password, f"mc.{service}.bench.bare", messages)
    proc = target.bare("bench-bare", "throughput", messages, 0)
    result = json.loads(proc.communicate(timeout=900)[0].strip().splitlines()[-1])
    out["bare_msgs_per_s"] = result["n"] / result["seconds"]
    out["ratio"] = out["ours_msgs_per_s"] / out["bare_msgs_per_s"]
    # latency at a fixed rate: ours
    count = int(RATE * seconds)
    before = len(latencies_from(target.logs()))
    publish(url, password, lat.subject, count, rate=RATE)
    wait_drained(url, password, lat.stream, "fn-lat")
    time.sleep(0.5)
    ours = latencies_from(target.logs())[before:]
    out["ours_p50_ms"], out["ours_p99_ms"], out["ours_latency_n"] = (percentile(ours, 0.5), percentile(ours, 0.99),
                                                                     float(len(ours)))
    # latency: the bare consumer
    bare_stream(url, password, "bench-bare-lat", f"mc.{service}.bench.lat")
    proc = target.bare("bench-bare-lat", "latency", count, seconds)
    time.sleep(2.0)  # connected and pulling before the first message
    publish(url, password, f"mc.{service}.bench.lat", count, rate=RATE)
    result = json.loads(proc.communicate(timeout=300)[0].strip().splitlines()[-1])
    out["bare_p50_ms"], out["bare_p99_ms"] = percentile(result["lat"], 0.5), percentile(result["lat"], 0.99)
    return out


def write_project(root: Path, service: str) -> None:
    root.mkdir(parents=True)
    (root / "app.py").write_text(textwrap.dedent(APP))
    (root / "multicloud.yaml").write_text(SPEC.format(
        service=service, base=os.environ.get("MULTICLOUD_TEST_BASE_IMAGE", "multicloud/python:3.11-bookworm"),
        broker=os.environ.get("MULTICLOUD_BENCH_BROKER_IMAGE", "multicloud/nats:bookworm")))


def missing(target: str) -> str | None:
    if target == "local":
        from multicloud.providers.local.broker import find_binary

        return None if find_binary() else "nats-server is not installed (apt-get install nats-server)"
    try:
        import docker
    except ImportError:
        return "the Docker SDK is not installed: pip install 'multicloud[docker]'"
    try:
        client = docker.from_env()
        client.ping()
        for image in ("multicloud/python:3.11-bookworm", "multicloud/nats:bookworm"):
            client.images.get(os.environ.get("MULTICLOUD_TEST_BASE_IMAGE", image) if "python" in image else image)
    except Exception as exc:  # noqa: BLE001
        return (f"no Docker Engine with the base and broker images ({type(exc).__name__}): start dockerd, run "
                "`multicloud docker base-image` and `multicloud docker broker-image`")
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--targets", default="local,docker")
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-events-") as tmp:
        for name in [t.strip() for t in args.targets.split(",") if t.strip()]:
            why = missing(name)
            if why:
                results[name] = {"skipped": why}
                continue
            root = Path(tmp) / name
            write_project(root, f"bench-ev-{name}")
            target: Target = LocalTarget(root) if name == "local" else DockerTarget(root)
            target.deploy()
            try:
                results[name] = measure(target, args.messages, args.seconds)
            finally:
                target.provider.remove()
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for name, r in results.items():
        if "skipped" in r:
            print(f"{name}: not measured: {r['skipped']}")
            continue
        print(f"{name}: throughput {r['ours_msgs_per_s']:,.0f} msg/s vs bare nats-py {r['bare_msgs_per_s']:,.0f} msg/s"
              f" = {r['ratio']:.2f}x (goal >= {GOAL_RATIO}x: {'met' if r['ratio'] >= GOAL_RATIO else 'NOT met'})")
        print(f"{name}: latency at {RATE} msg/s: p50 {r['ours_p50_ms']:.1f} ms, p99 {r['ours_p99_ms']:.1f} ms "
              f"(bare fetch(10): p50 {r['bare_p50_ms']:.1f} ms, p99 {r['bare_p99_ms']:.1f} ms; goal p99 < "
              f"{GOAL_P99_MS:g} ms: {'met' if r['ours_p99_ms'] < GOAL_P99_MS else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
