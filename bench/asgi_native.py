"""A FastAPI app (`style: asgi`) on the private runtime, served natively, against the buffered adapter it
used before and against bare uvicorn serving the same app: same run, same wrk, same app.

Three servers answer `GET /items/7` from one FastAPI app on 127.0.0.1:
  * native:  python -m multicloud.runtime.server with `style: asgi` (server_asgi: the app on the server's
             loop, a slot of the pool, the access log on, written to a file as in production)
  * adapter: the same server with the app wrapped as a portable handler (multicloud.runtime.asgi.AsgiApp,
             the clouds' buffered path: a worker thread hands each request to a second event loop)
  * uvicorn: `uvicorn app:app` (httptools + uvloop, no access log): the ceiling, the server under both
The load is wrk (Debian package `wrk`); rounds alternate between the servers. Ratios are native over each
peer's req/s, plus each server's CPU time per request from /proc.

Usage: python bench/asgi_native.py [--duration 5] [--connections 16] [--rounds 3] [--json]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from http_runtime import alternate_rounds, wrk_missing, wrk_parser  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
APP = '''
from fastapi import FastAPI

from multicloud.runtime.asgi import AsgiApp

app = FastAPI()


@app.get("/items/{item_id}")
async def item(item_id: int):
    return {"id": item_id}


adapted = AsgiApp(app, "bench_app.app")  # the buffered adapter, as a portable handler
'''


# Without FastAPI (a plain `pip install .`): the same route as a bare ASGI callable, so the servers are
# still compared; the framework's own cost is then left out of all three alike.
BARE_APP = '''
import json

from multicloud.runtime.asgi import AsgiApp


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = json.dumps({"id": int(scope["path"].rsplit("/", 1)[-1])}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


adapted = AsgiApp(app, "bench_app.app")
'''


def start_runtime(work: Path, port: int, handler: str, style: str) -> subprocess.Popen[bytes]:
    folder = work / style
    (folder / "app").mkdir(parents=True)
    (folder / "app" / "bench_app.py").write_text(APP)
    fn: dict[str, object] = {"handler": handler, "timeout": 30, "http": [{"path": "/{proxy+}", "methods": ["GET"]}]}
    if style == "asgi":
        fn["style"] = "asgi"
    config = {"format": 1, "service": "bench", "target": "local", "paths": ["app"], "functions": {"app": fn}}
    (folder / "runtime.json").write_text(json.dumps(config))
    log = (folder / "access.log").open("wb")
    return subprocess.Popen([sys.executable, "-m", "multicloud.runtime.server", "--config",
                             str(folder / "runtime.json"), "--port", str(port)],
                            stdout=log, stderr=log, env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=folder)


def start_uvicorn(work: Path, port: int) -> subprocess.Popen[bytes]:
    folder = work / "uvicorn"
    folder.mkdir()
    (folder / "bench_app.py").write_text(APP)
    return subprocess.Popen([sys.executable, "-m", "uvicorn", "bench_app:app", "--port", str(port), "--host",
                             "127.0.0.1", "--loop", "uvloop", "--http", "httptools", "--no-access-log",
                             "--log-level", "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=folder, env={**os.environ, "PYTHONPATH": str(ROOT)})


def main() -> int:
    args = wrk_parser(__doc__).parse_args()
    if wrk_missing():
        return 3
    global APP
    app_name = "FastAPI"
    try:
        import fastapi  # noqa: F401
    except ImportError:
        print("FastAPI is not installed (pip install fastapi, or '.[test]'): serving a bare ASGI app instead, "
              "so the framework's cost is not measured", file=sys.stderr)
        APP, app_name = BARE_APP, "bare ASGI app"
    starts = {
        "native": lambda w, p: start_runtime(w, p, "bench_app.app", "asgi"),
        "adapter": lambda w, p: start_runtime(w, p, "bench_app.adapted", "portable"),
        "uvicorn": start_uvicorn,
    }
    results = alternate_rounds(starts, "/items/7", args, "bench-asgi-")
    med = {name: {k: statistics.median(r[k] for r in rounds) for k in rounds[0]} for name, rounds in results.items()}
    ratios = {peer: round(med["native"]["rps"] / med[peer]["rps"], 3) for peer in ("adapter", "uvicorn")}
    summary = {"load": {"tool": "wrk", "threads": args.threads, "connections": args.connections,
                        "duration_s": args.duration, "rounds": args.rounds, "cpus": os.cpu_count(),
                        "loadavg": os.getloadavg()[0]},
               "rounds": results, "median": med, "ratio_rps": ratios}
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, {args.rounds} alternating rounds, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; {app_name} GET /items/7")
    print(f"{'server':<22}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'CPU us/req':>12}{'non-2xx':>9}")
    for name, m in med.items():
        print(f"{name + ' (median)':<22}{m['rps']:>10,.0f}{m['p50_ms']:>9.2f}{m['p99_ms']:>9.2f}"
              f"{m['cpu_us_per_request']:>12.1f}{int(m['non_2xx']):>9}")
    for peer, ratio in ratios.items():
        print(f"native / {peer}: {ratio:.2f}x req/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
