"""A console API in FastAPI behind Mangum (REST API). Every request must carry the claims of the API Gateway
authorizer (requestContext.authorizer.claims in the Lambda event); without them the middleware refuses it
with 422 before any route runs."""

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from mangum import Mangum

app = FastAPI(title="console-api")


def claims_of(request):
    event = request.scope.get("aws.event") or {}
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    return authorizer.get("claims") or {}


@app.middleware("http")
async def require_claims(request: Request, call_next):
    claims = claims_of(request)
    if not claims.get("sub"):
        return JSONResponse(status_code=422, content={"detail": "the request has no authorizer claims (sub)"})
    request.state.user = claims["sub"]
    return await call_next(request)


@app.get("/health")
def health():
    return {"healthy": True}


@app.get("/me")
def me(request: Request):
    return {"user": request.state.user}


handler = Mangum(app)
