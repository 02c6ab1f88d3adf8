"""The private HTTP runtime against bare uvicorn and functions-framework: same run, same wrk, same JSON.

Four servers answer `{"hello": "world"}` on 127.0.0.1:
  * multicloud: python -m multicloud.runtime.server --config runtime.json --port N, one process, as the local
                target and `multicloud dev` start it (defaults: concurrency 32, the handler in a worker thread,
                the JSON access log on, written to a file as in production)
  * multicloud (async def): the same server and function written `async def hello(event, context)`, which the
                runtime awaits on its event loop (no worker thread): compared only, the goal row stays `def`
  * uvicorn:    a bare ASGI app (json.dumps per request) on uvicorn with httptools + uvloop, no access log:
                the common reference for a fast Python server, and the ceiling of what the runtime is built on
  * granian:    the same bare ASGI app on granian (optional: `pip install granian`; compared, no goal), the
                other candidate server of docs/private-runtime.md
  * functions-framework: `functions-framework --target hello` as a user starts it, with its own default
                server (gunicorn, 1 worker, gthread with 4 threads per CPU, no access log)
  * multicloud (baseline): with `--baseline DIR`, the runtime of another checkout (e.g. the main branch) in the
                same run, so a change is measured against what it replaces under the same load (no goal)
The load is wrk (Debian package `wrk`) with the same threads, connections and duration for each; rounds
alternate between the servers so background load on a shared machine hits all alike. Besides req/s and
latency, each server's CPU time per request is read from /proc (steadier than req/s on a busy machine).
Goals (issue 13): multicloud/uvicorn >= 0.6, multicloud/functions-framework >= 8, and a lower p99 than
functions-framework; the `async def` row's ratios are printed beside them, compared only (`ratio_rps_async`).
A missing peer is named, with how to install it, and the rest is measured (exit status 1 only when a measured
goal is missed).

Usage: python bench/http_runtime.py [--duration 5] [--connections 16] [--rounds 3] [--baseline DIR] [--json]
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
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOALS = {"uvicorn": 0.6, "functions-framework": 8.0}
APP = '''
def hello(event, context):
    return {"hello": "world"}
'''
ASYNC_APP = '''
async def hello(event, context):
    return {"hello": "world"}
'''
ASYNC = "multicloud (async def)"
OURS = ("multicloud", ASYNC)  # rows of this checkout's runtime: not peers of each other
PEER_APP = '''
def hello(request):
    return {"hello": "world"}
'''
BARE_APP = '''
import json


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = json.dumps({"hello": "world"}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})
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


def cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of a process and its children (gunicorn's worker), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def wrk(url: str, duration: int, connections: int, threads: int, pid: int) -> dict[str, float]:
    before = cpu_seconds(pid)
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", url],
                         capture_output=True, text=True, check=True).stdout
    used = cpu_seconds(pid) - before
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = to_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = to_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock_errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99, "cpu_us_per_request": used * 1e6 / max(requests, 1),
            "non_2xx": float(errors.group(1)) if errors else 0.0, "socket_errors": 1.0 if sock_errors else 0.0}


def start_multicloud(work: Path, port: int, root: Path = ROOT, name: str = "multicloud",
                     code: str = APP) -> subprocess.Popen[bytes]:
    work = work / name if name != "multicloud" else work
    app = work / "multicloud" / "app"
    app.mkdir(parents=True)
    (app / "main.py").write_text(code)
    config = {"format": 1, "service": "bench", "target": "local", "paths": ["app"],
              "functions": {"hello": {"handler": "main.hello", "timeout": 30,
                                      "http": [{"path": "/", "methods": ["GET"]}]}}}
    (work / "multicloud" / "runtime.json").write_text(json.dumps(config))
    log = (work / "multicloud" / "access.log").open("wb")
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.Popen([sys.executable, "-m", "multicloud.runtime.server", "--config",
                             str(work / "multicloud" / "runtime.json"), "--port", str(port)],
                            stdout=log, stderr=log, env=env, cwd=work / "multicloud")


def start_uvicorn(work: Path, port: int) -> subprocess.Popen[bytes]:
    folder = work / "uvicorn"
    folder.mkdir()
    (folder / "bare.py").write_text(BARE_APP)
    return subprocess.Popen([sys.executable, "-m", "uvicorn", "bare:app", "--port", str(port), "--host", "127.0.0.1",
                             "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=folder)


def start_granian(work: Path, port: int) -> subprocess.Popen[bytes]:
    folder = work / "granian"
    folder.mkdir()
    (folder / "bare.py").write_text(BARE_APP)
    exe = shutil.which("granian", path=str(Path(sys.executable).parent)) or "granian"
    return subprocess.Popen([exe, "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                             "--log-level", "warning", "bare:app"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=folder)


def ff_server() -> str:
    """How `functions-framework --target` serves here: its default gunicorn settings (functions_framework/_http/
    gunicorn.py: WORKERS, default 1; THREADS, default 4 per CPU), read from the environment as it reads them."""
    threads = int(os.environ.get("THREADS", (os.cpu_count() or 1) * 4))
    return f"gunicorn, {int(os.environ.get('WORKERS', 1))} worker, gthread with {threads} threads (its default)"


def start_functions_framework(work: Path, port: int) -> subprocess.Popen[bytes]:
    src = work / "functions-framework" / "main.py"
    src.parent.mkdir(parents=True)
    src.write_text(PEER_APP)
    exe = shutil.which("functions-framework", path=str(Path(sys.executable).parent)) or "functions-framework"
    log = (src.parent / "server.log").open("wb")
    return subprocess.Popen([exe, "--target", "hello", "--source", str(src), "--port", str(port),
                             "--host", "127.0.0.1"], stdout=log, stderr=log, cwd=src.parent)


def available() -> tuple[dict[str, Callable[[Path, int], subprocess.Popen[bytes]]], dict[str, str]]:
    servers: dict[str, Callable[[Path, int], subprocess.Popen[bytes]]] = {
        "multicloud": start_multicloud, ASYNC: partial(start_multicloud, name="async", code=ASYNC_APP)}
    missing: dict[str, str] = {}
    try:
        import httptools  # noqa: F401
        import uvicorn  # noqa: F401
        import uvloop  # noqa: F401

        servers["uvicorn"] = start_uvicorn
    except ImportError:
        missing["uvicorn"] = "pip install uvicorn httptools uvloop"
    if shutil.which("granian", path=str(Path(sys.executable).parent)) or shutil.which("granian"):
        servers["granian"] = start_granian
    else:
        missing["granian"] = "pip install granian"
    if shutil.which("functions-framework", path=str(Path(sys.executable).parent)) or shutil.which(
            "functions-framework"):
        servers["functions-framework"] = start_functions_framework
    else:
        missing["functions-framework"] = "pip install functions-framework (or pip install '.[bench]')"
    return servers, missing


def alternate_rounds(servers: dict[str, Callable[[Path, int], subprocess.Popen[bytes]]], path: str,
                     args: argparse.Namespace, prefix: str) -> dict[str, list[dict[str, float]]]:
    """Start every server on a free port, warm each up, then wrk them in alternating rounds (so a busy
    moment of the machine falls on all of them alike); stop them all whatever happens. name -> rounds."""
    results: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
    procs: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        try:
            for name, start in servers.items():
                port = free_port()
                procs[name] = (start(Path(tmp), port), port)
            for proc, port in procs.values():
                url = f"http://127.0.0.1:{port}{path}"
                wait_http(url, proc)
                wrk(url, 2, args.connections, args.threads, proc.pid)  # warm-up, not counted
            for _ in range(args.rounds):
                for name, (proc, port) in procs.items():
                    results[name].append(wrk(f"http://127.0.0.1:{port}{path}", args.duration, args.connections,
                                             args.threads, proc.pid))
        finally:
            for proc, _ in procs.values():
                proc.send_signal(signal.SIGTERM)
            for proc, _ in procs.values():
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
    return results


def wrk_parser(doc: str) -> argparse.ArgumentParser:
    """The load options every wrk bench here takes (the other benches add their own to it)."""
    parser = argparse.ArgumentParser(description=doc.split("\n", 1)[0])
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    return parser


def wrk_missing() -> bool:
    """True (and says how to install it) when the load generator is absent: then nothing can be measured."""
    if shutil.which("wrk"):
        return False
    print("wrk is not installed: apt-get install -y wrk (Debian package); nothing can be measured without it",
          file=sys.stderr)
    return True


def main() -> int:
    parser = wrk_parser(__doc__)
    parser.add_argument("--baseline", metavar="DIR", help="also measure the runtime of this checkout (no goal)")
    args = parser.parse_args()
    if wrk_missing():
        return 3
    servers, missing = available()
    if args.baseline is not None:
        base = Path(args.baseline).resolve()
        if not (base / "multicloud" / "runtime" / "server.py").is_file():
            print(f"--baseline {args.baseline}: not a multicloud checkout (no multicloud/runtime/server.py)",
                  file=sys.stderr)
            return 2
        servers = {"multicloud": servers.pop("multicloud"),
                   "multicloud (baseline)": partial(start_multicloud, root=base, name="baseline"), **servers}
    for name, how in missing.items():
        print(f"peer {name} is not installed ({how}); measuring the rest", file=sys.stderr)
    results = alternate_rounds(servers, "/", args, "bench-http-")
    med = {name: {k: statistics.median(r[k] for r in rounds) for k in rounds[0]} for name, rounds in results.items()}
    ours = med["multicloud"]
    ratios = {peer: round(ours["rps"] / med[peer]["rps"], 3) for peer in med if peer not in OURS}
    ratios_async = {peer: round(med[ASYNC]["rps"] / med[peer]["rps"], 3) for peer in med
                    if peer not in OURS} if ASYNC in med else {}
    base = med.get("multicloud (baseline)")
    cpu_vs_baseline = round(ours["cpu_us_per_request"] / base["cpu_us_per_request"], 3) if base else None
    met = {peer: ratios[peer] >= GOALS[peer] for peer in ratios if peer in GOALS}
    if "functions-framework" in med:
        met["p99 below functions-framework"] = ours["p99_ms"] < med["functions-framework"]["p99_ms"]
    summary = {
        "load": {"tool": "wrk", "threads": args.threads, "connections": args.connections,
                 "duration_s": args.duration, "rounds": args.rounds, "cpus": os.cpu_count(),
                 "loadavg": os.getloadavg()[0]},
        "rounds": results, "median": med, "ratio_rps": ratios, "ratio_rps_async": ratios_async, "goals": GOALS,
        "met": met, "missing": missing,
        "functions_framework_server": ff_server(), "cpu_per_request_vs_baseline": cpu_vs_baseline,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, {args.rounds} alternating rounds, "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
        print(f"{'server':<28}{'round':>6}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'CPU us/req':>12}{'non-2xx':>9}")
        for name, rounds in results.items():
            for i, r in enumerate(rounds, 1):
                print(f"{name:<28}{i:>6}{r['rps']:>10,.0f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}"
                      f"{r['cpu_us_per_request']:>12.1f}{int(r['non_2xx']):>9}")
        for name, m in med.items():
            print(f"{name + ' (median)':<34}{m['rps']:>10,.0f}{m['p50_ms']:>9.2f}{m['p99_ms']:>9.2f}"
                  f"{m['cpu_us_per_request']:>12.1f}")
        if "functions-framework" in med:
            print(f"functions-framework server: {ff_server()}")
        for peer, ratio in ratios.items():
            goal = (f"goal >= {GOALS[peer]:g}x: {'met' if met[peer] else 'NOT met'}" if peer in GOALS
                    else "no goal: compared only")
            print(f"multicloud / {peer}: {ratio:.2f}x req/s ({goal})")
            if peer in ratios_async:
                print(f"  {ASYNC} / {peer}: {ratios_async[peer]:.2f}x req/s (compared only)")
        if cpu_vs_baseline is not None:
            print(f"multicloud / multicloud (baseline): {cpu_vs_baseline:.2f}x CPU per request (compared only)")
        if "functions-framework" in med:
            print(f"p99 {ours['p99_ms']:.2f} ms vs functions-framework {med['functions-framework']['p99_ms']:.2f} ms: "
                  f"{'lower' if met['p99 below functions-framework'] else 'NOT lower'}")
    return 0 if all(met.values()) else 1  # a missing peer is reported above, not a failed goal


if __name__ == "__main__":
    sys.exit(main())
