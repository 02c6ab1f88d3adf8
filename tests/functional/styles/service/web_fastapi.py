"""A FastAPI app as it was deployed with Mangum: nothing in it knows about multicloud."""

from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Cookie, FastAPI, Header, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse


@asynccontextmanager
async def lifespan(app):
    yield {"started": True}       # lifespan state: every request sees it


app = FastAPI(lifespan=lifespan)


@app.get("/fastapi/items/{item_id}")
async def get_item(item_id: int, request: Request, q: str | None = None, tag: Annotated[list[str], Query()] = (),
                   x_trace: Annotated[str | None, Header()] = None, session: Annotated[str | None, Cookie()] = None,
                   theme: Annotated[str | None, Cookie()] = None):
    assert request.state.started
    return {"id": item_id, "q": q, "tags": list(tag), "trace": x_trace, "session": session, "theme": theme,
            "method": request.method, "path": request.url.path}


@app.put("/fastapi/items/{item_id}")
async def put_item(item_id: int, request: Request):
    return {"id": item_id, "name": (await request.json())["name"], "method": request.method}


@app.delete("/fastapi/items/{item_id}", status_code=204)
def delete_item(item_id: int):                 # a sync endpoint: runs in the app's thread pool
    return Response(status_code=204)


@app.post("/fastapi/echo")
async def echo(request: Request):
    data = await request.body()
    response = Response(content=data[::-1], status_code=201, media_type="application/octet-stream",
                        headers={"X-Length": str(len(data))})
    response.set_cookie("x", "1")
    response.set_cookie("y", "2")
    return response


@app.get("/fastapi/teapot")
async def teapot():
    return PlainTextResponse("short and stout", status_code=418)


@app.get("/fastapi/old")
async def old():
    return RedirectResponse("/fastapi/items/1", status_code=302)


@app.get("/fastapi/stream")
async def stream():
    import asyncio

    from fastapi.responses import StreamingResponse

    async def chunks():
        yield b"first\n"
        await asyncio.sleep(1.0)
        yield b"last\n"

    return StreamingResponse(chunks(), media_type="text/plain")


@app.get("/fastapi/boom")
async def boom():
    raise RuntimeError("unhandled")


@app.exception_handler(KeyError)
async def missing(request, exc):
    return JSONResponse({"missing": str(exc)}, status_code=400)
