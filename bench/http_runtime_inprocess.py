"""What the private runtime adds around uvicorn per request, in CPU, without sockets, threads or wrk.

`bench/http_runtime.py` measures the servers as users run them, and its figures move with the machine's
load (other processes take the CPUs, wake-ups wait). This one measures the Python work of the request path
alone, steady under load: keep-alive requests are fed straight into the connection's protocol (uvicorn's
httptools parser) and the response is taken from a transport that only collects it, on uvloop, in one
process. Four paths answer `{"hello": "world"}`:
  * runtime:  RuntimeProtocol (the RFC checks and timeouts) + RuntimeApp (routing, request id, the portable
              call path, the one-piece response, the JSON access line, written to /dev/null), with the
              handler called on the loop where the server hands it to a worker thread: the thread hop is
              what bench/http_runtime.py adds on top (cost (b) of docs/private-runtime.md)
  * runtime-async: the same server, the function written `async def`, served as the server serves it: awaited
              on the loop in a slot of the real worker pool (acquire/release), under its deadline; nothing is
              left out, so this is the whole of what an async handler costs
  * protocol: RuntimeProtocol + the bare ASGI app of bench/http_runtime.py (the protocol layer's share)
  * uvicorn:  uvicorn's own HttpToolsProtocol + that bare app: the floor, what any app on uvicorn pays
Each path runs `--requests` requests `--repeat` times; the best repeat counts (CPU time of the process).
Reported: us per request, and the runtime's overhead over uvicorn's floor (runtime - uvicorn).

Usage: python bench/http_runtime_inprocess.py [--requests 4000] [--repeat 10] [--root DIR] [--json]
(`--root` measures another checkout's runtime, e.g. the main branch's, to compare a change; run it in turns.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REQUEST = b"GET / HTTP/1.1\r\nHost: localhost:8080\r\n\r\n"
ASYNC_REQUEST = b"GET /async HTTP/1.1\r\nHost: localhost:8080\r\n\r\n"


async def bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    body = json.dumps({"hello": "world"}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


class Collector:
    """A transport that keeps what is written (the response) and answers the protocol's questions."""

    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.out.append(data)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    abort = close

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8080)}.get(name, default)

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def set_write_buffer_limits(self, *args: object, **kwargs: object) -> None: ...


PATHS = ("runtime", "runtime-async", "protocol", "uvicorn")


def async_supported() -> bool:
    """Whether the measured checkout serves `async def` handlers (an older one, given by --root, does not)."""
    from multicloud.runtime import invoke

    return hasattr(invoke, "AsyncHandler")


class InlinePool:
    """Stands in for the worker pool: the call runs at once on the loop (the bench's subject is the path)."""

    running = waiting = 0

    def submit(self, loop: asyncio.AbstractEventLoop, work: Any) -> asyncio.Future[Any]:
        fut: asyncio.Future[Any] = loop.create_future()
        fut.set_result(work())
        return fut


def build(work: Path) -> Any:
    """The runtime's uvicorn server for a one-function service, as `multicloud dev` builds it."""
    from multicloud.runtime import server
    from multicloud.runtime.server_config import load_config
    from multicloud.runtime.server_log import JsonLog
    from multicloud.runtime.server_pool import WorkerPool

    (work / "app").mkdir()
    (work / "app" / "main.py").write_text("def hello(event, context):\n    return {'hello': 'world'}\n\n\n"
                                          "async def ahello(event, context):\n    return {'hello': 'world'}\n")
    (work / "runtime.json").write_text(json.dumps({
        "format": 1, "service": "bench", "target": "local", "paths": [str(work / "app")],
        "functions": {"hello": {"handler": "main.hello", "timeout": 30, "http": [{"path": "/", "methods": ["GET"]}]},
                      "ahello": {"handler": "main.ahello", "timeout": 30,
                                 "http": [{"path": "/async", "methods": ["GET"]}]}}}))
    config = load_config(work / "runtime.json")
    server.import_server_stack()
    handlers, key = server.prepare(config)
    log = JsonLog(open(os.devnull, "w"))  # noqa: SIM115
    log.start()  # access lines leave in batches from the flusher thread, as in the server
    srv = server.build_server(config, handlers, key, log)
    srv.app.pool = InlinePool()  # the def handler's calls (the async one's slots: the real pool, in `measure`)
    srv.real_pool = WorkerPool(config.limits.concurrency, config.limits.max_queue)
    return srv


async def measure(srv: Any, path: str, requests: int, repeat: int) -> float:
    import uvicorn
    from uvicorn.server import ServerState

    from multicloud.runtime.server_protocol import protocol_class

    loop = asyncio.get_running_loop()
    srv.app.bind(loop)
    request = ASYNC_REQUEST if path == "runtime-async" else REQUEST
    if path == "runtime-async":
        inline, srv.app.pool = srv.app.pool, srv.real_pool
    if path.startswith("runtime"):
        config = srv.config
    else:
        http: Any = protocol_class(srv.app.limits, srv.app) if path == "protocol" else "httptools"
        config = uvicorn.Config(bare_app, http=http, loop="uvloop", log_config=None, access_log=False,
                                server_header=False, lifespan="off")
    if not config.loaded:  # the two runtime paths share the server's config
        config.load()
    proto = config.http_protocol_class(config=config, server_state=ServerState(), app_state={}, _loop=loop)
    transport = Collector()
    proto.connection_made(transport)

    async def run(n: int) -> None:
        out = transport.out
        for _ in range(n):
            out.clear()
            proto.data_received(request)
            while not out or not out[-1].endswith(b"}"):
                await asyncio.sleep(0)

    await run(500)
    answer = b"".join(transport.out)
    if not answer.startswith(b"HTTP/1.1 200 OK") or b'"hello"' not in answer:
        raise SystemExit(f"{path}: unexpected answer {answer!r}")
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        await run(requests)
        best = min(best, (time.process_time() - started) / requests * 1e6)
    if path == "runtime-async":
        srv.app.pool = inline
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose runtime is measured")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(args.root.resolve()))
    try:
        import uvloop
    except ImportError:
        print("uvloop is not installed (pip install uvloop): the runtime serves on it; nothing measured",
              file=sys.stderr)
        return 3
    with tempfile.TemporaryDirectory(prefix="bench-inprocess-") as tmp:
        srv = build(Path(tmp))
        us = {path: uvloop.run(measure(srv, path, args.requests, args.repeat))
              for path in PATHS if path != "runtime-async" or async_supported()}
    overhead = {"total": us["runtime"] - us["uvicorn"], "protocol": us["protocol"] - us["uvicorn"],
                "app": us["runtime"] - us["protocol"]}
    if "runtime-async" in us:
        overhead["async_total"] = us["runtime-async"] - us["uvicorn"]
    if args.json:
        print(json.dumps({"us_per_request": us, "overhead_us": overhead, "requests": args.requests,
                          "repeat": args.repeat, "loadavg": os.getloadavg()[0]}, indent=2))
        return 0
    import multicloud

    print(f"{args.requests} keep-alive requests x {args.repeat}, best repeat, CPU time, load average "
          f"{os.getloadavg()[0]:.1f}; runtime from {Path(multicloud.__file__).parent.parent}")
    for path, value in us.items():
        print(f"{path:<14}{value:>8.2f} us per request")
    print(f"runtime over uvicorn's floor: {overhead['total']:.2f} us per request (protocol "
          f"{overhead['protocol']:.2f}, app and portable call {overhead['app']:.2f})")
    if "runtime-async" not in us:
        print("runtime-async: not measured (this checkout's runtime does not serve async def handlers)")
        return 0
    print(f"runtime-async over uvicorn's floor: {overhead['async_total']:.2f} us per request (everything: slot, "
          "deadline, awaiting the handler; the def row leaves out its thread hop)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
