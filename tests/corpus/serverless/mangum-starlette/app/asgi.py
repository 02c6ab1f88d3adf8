"""A Starlette app behind Mangum (API Gateway HTTP API)."""

from mangum import Mangum
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


async def index(request):
    return JSONResponse({"greeting": "hello from Starlette", "path": request.url.path})


app = Starlette(routes=[Route("/", index)])
handler = Mangum(app)
