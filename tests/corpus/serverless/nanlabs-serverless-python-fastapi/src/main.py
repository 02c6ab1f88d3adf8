"""FastAPI behind API Gateway's REST API (payload 1.0) through Mangum; /docs and /openapi.json come from FastAPI."""

from fastapi import FastAPI
from mangum import Mangum

from src.router.routes import router

app = FastAPI(title="Serverless FastAPI", version="1.0.0")
app.include_router(router)

handler = Mangum(app, lifespan="off")
