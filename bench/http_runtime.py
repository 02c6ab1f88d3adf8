"""Requests per second and p99 of the private HTTP runtime against functions-framework, same run, same wrk.

Both serve the same trivial function (a JSON object back) on 127.0.0.1:
  * ours:  python -m multicloud.runtime.server --config runtime.json --port N  (defaults: concurrency 32,
           JSON access log on, written to a file as in production)
  * peer:  functions-framework --target hello --source main.py --port N  (its standard server: gunicorn,
           1 worker, gthread)
The load generator is wrk (/usr/bin/wrk) with the same threads, connections and duration for both; the
rounds alternate ours/peer so background load on the shared machine hits both alike. The figures per
round, the medians and the ratio are printed; goals: ratio >= 3x and a lower p99 than the peer.

Usage: python bench/http_runtime.py [--duration 8] [--connections 16] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL_RATIO = 3.0
APP = '''
def hello(event, context):
    return {"hello": "world"}
'''
PEER_APP = '''
def hello(request):
    return {"hello": "world"}
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer within {timeout} s")


def to_ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not m:
        raise ValueError(text)
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def wrk(url: str, duration: int, connections: int, threads: int) -> dict[str, float]:
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = to_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = to_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock_errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99, "non_2xx": float(errors.group(1)) if errors else 0.0,
            "socket_errors": 1.0 if sock_errors else 0.0}


def start_ours(work: Path, port: int) -> subprocess.Popen[bytes]:
    app = work / "ours" / "app"
    app.mkdir(parents=True)
    (app / "main.py").write_text(APP)
    config = {"format": 1, "service": "bench", "target": "local", "paths": ["app"],
              "functions": {"hello": {"handler": "main.hello", "timeout": 30,
                                      "http": [{"path": "/", "methods": ["GET"]}]}}}
    (work / "ours" / "runtime.json").write_text(json.dumps(config))
    log = (work / "ours" / "access.log").open("wb")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "multicloud.runtime.server", "--config",
                             str(work / "ours" / "runtime.json"), "--port", str(port)],
                            stdout=log, stderr=log, env=env, cwd=work / "ours")


def start_peer(work: Path, port: int) -> subprocess.Popen[bytes]:
    src = work / "peer" / "main.py"
    src.parent.mkdir(parents=True)
    src.write_text(PEER_APP)
    exe = shutil.which("functions-framework", path=str(Path(sys.executable).parent)) or "functions-framework"
    log = (work / "peer" / "server.log").open("wb")
    return subprocess.Popen([exe, "--target", "hello", "--source", str(src), "--port", str(port),
                             "--host", "127.0.0.1"], stdout=log, stderr=log, cwd=src.parent)


def measure_ours_only(args: argparse.Namespace) -> int:
    """The peer is missing: say which and how to install it, and measure the private runtime alone."""
    print("functions-framework is not installed: the peer is skipped. Install it with "
          "`pip install 'multicloud[bench]'` (or `pip install functions-framework`) to compare.", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        port = free_port()
        ours = start_ours(Path(tmp), port)
        try:
            wait_http(f"http://127.0.0.1:{port}/", ours)
            wrk(f"http://127.0.0.1:{port}/", 2, args.connections, args.threads)  # warm-up, not counted
            rounds = [wrk(f"http://127.0.0.1:{port}/", args.duration, args.connections, args.threads)
                      for _ in range(args.rounds)]
        finally:
            ours.send_signal(signal.SIGTERM)
            ours.wait(20)
    med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    if args.json:
        print(json.dumps({"median": {"multicloud": med}, "rounds": {"multicloud": rounds}, "peer_missing": True}))
    else:
        print(f"multicloud (median of {args.rounds}): {med['rps']:,.0f} req/s, p50 {med['p50_ms']:.2f} ms, "
              f"p99 {med['p99_ms']:.2f} ms; functions-framework: not measured (not installed)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    if not shutil.which("functions-framework", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"):
        return measure_ours_only(args)
    results: dict[str, list[dict[str, float]]] = {"multicloud": [], "functions-framework": []}
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        work = Path(tmp)
        ours_port, peer_port = free_port(), free_port()
        ours, peer = start_ours(work, ours_port), start_peer(work, peer_port)
        try:
            for port, proc in ((ours_port, ours), (peer_port, peer)):
                url = f"http://127.0.0.1:{port}/"
                wait_http(url, proc)
                wrk(url, 2, args.connections, args.threads)  # warm-up, not counted
            for _ in range(args.rounds):
                results["multicloud"].append(wrk(f"http://127.0.0.1:{ours_port}/", args.duration,
                                                 args.connections, args.threads))
                results["functions-framework"].append(wrk(f"http://127.0.0.1:{peer_port}/", args.duration,
                                                          args.connections, args.threads))
        finally:
            for proc in (ours, peer):
                proc.send_signal(signal.SIGTERM)
            for proc in (ours, peer):
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
    med = {name: {k: statistics.median(r[k] for r in rounds) for k in rounds[0]} for name, rounds in results.items()}
    ratio = med["multicloud"]["rps"] / med["functions-framework"]["rps"]
    lower_p99 = med["multicloud"]["p99_ms"] < med["functions-framework"]["p99_ms"]
    summary = {
        "load": {"tool": "wrk", "threads": args.threads, "connections": args.connections,
                 "duration_s": args.duration, "rounds": args.rounds, "cpus": os.cpu_count()},
        "rounds": results, "median": med, "ratio": round(ratio, 2), "goal_ratio": GOAL_RATIO,
        "ratio_met": ratio >= GOAL_RATIO, "lower_p99": lower_p99,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, {args.rounds} alternating rounds, "
              f"{os.cpu_count()} CPUs")
        print(f"{'server':<22}{'round':>6}{'req/s':>12}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>9}")
        for name, rounds in results.items():
            for i, r in enumerate(rounds, 1):
                print(f"{name:<22}{i:>6}{r['rps']:>12,.0f}{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}"
                      f"{int(r['non_2xx']):>9}")
        for name, m in med.items():
            print(f"{name + ' (median)':<28}{m['rps']:>12,.0f}{m['p50_ms']:>10.2f}{m['p99_ms']:>10.2f}")
        print(f"ratio (req/s): {ratio:.2f}x  goal >= {GOAL_RATIO:g}x: {'met' if ratio >= GOAL_RATIO else 'NOT met'}; "
              f"p99 {med['multicloud']['p99_ms']:.2f} ms vs {med['functions-framework']['p99_ms']:.2f} ms: "
              f"{'lower' if lower_p99 else 'NOT lower'}")
    return 0 if ratio >= GOAL_RATIO and lower_p99 else 1


if __name__ == "__main__":
    sys.exit(main())
