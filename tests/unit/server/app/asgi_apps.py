"""ASGI apps the private runtime serves natively (style asgi): a FastAPI app with lifespan, a Starlette app
with a streamed response, a bare ASGI callable (no lifespan, raises) and an app whose startup fails."""

from __future__ import annotations

import asyncio
import os
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

RELEASE = asyncio.Event()  # set by GET /star/release: the stream's last chunk waits for it


@asynccontextmanager
async def lifespan(app):
    loop = asyncio.get_running_loop()
    yield {"pool": "opened at startup", "loop": id(loop)}
    path = os.environ.get("ASGI_SHUTDOWN_FILE")
    if path:
        with open(path, "w") as out:
            out.write("shutdown ran")


fast = FastAPI(lifespan=lifespan)


@fast.get("/fast/state")
async def state(request: Request):
    # the lifespan's state, and whether this request runs on the loop the startup ran on
    return {"pool": request.state.pool, "same_loop": request.state.loop == id(asyncio.get_running_loop())}


@fast.get("/fast/sleep")
async def sleep(s: float = 0.0):
    await asyncio.sleep(s)
    return {"slept": s}


@fast.post("/fast/echo")
async def echo(request: Request):
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
    return {"size": size}


@fast.get("/fast/slow-stream")
async def slow_stream():
    async def chunks():
        yield b"begun\n"
        await asyncio.sleep(30)
        yield b"never\n"

    return StreamingResponse(chunks(), media_type="text/plain")


async def stream(request):
    async def chunks():
        yield b"first\n"
        try:
            await asyncio.wait_for(RELEASE.wait(), 5)
            yield b"last\n"
        except asyncio.TimeoutError:
            yield b"not released: the first chunk did not reach the client\n"
        RELEASE.clear()

    return StreamingResponse(chunks(), media_type="text/plain")


async def release(request):
    RELEASE.set()
    return JSONResponse({"released": True})


star = Starlette(routes=[Route("/star/stream", stream), Route("/star/release", release)])


async def bare(scope, receive, send):
    """No lifespan support (raises on that scope, as many hand-written apps do); raises before answering."""
    if scope["type"] != "http":
        raise RuntimeError(f"unsupported scope {scope['type']}")
    if scope["path"].startswith("/bare/ok"):
        body = scope["raw_path"] + b"?" + scope["query_string"]
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})
        return
    raise ValueError(f"broken with {os.environ.get('ASGI_SECRET', '')}")


@asynccontextmanager
async def failing(app):
    raise RuntimeError("the database is unreachable")
    yield


broken = FastAPI(lifespan=failing)
