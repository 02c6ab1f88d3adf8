"""A FastAPI app behind Mangum (API Gateway HTTP API): a greeting and an item lookup with typed parameters."""

from typing import Optional

from fastapi import FastAPI
from mangum import Mangum

app = FastAPI(title="corpus fastapi")


@app.get("/")
def index():
    return {"greeting": "hello from FastAPI"}


@app.get("/items/{item_id}")
def read_item(item_id: int, q: Optional[str] = None):
    return {"item_id": item_id, "q": q}


handler = Mangum(app)
