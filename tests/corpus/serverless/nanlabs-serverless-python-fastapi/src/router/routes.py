"""The API's routes, kept apart from the app as the service's layout has them."""

import os

from fastapi import APIRouter

router = APIRouter()


@router.get("/")
def root():
    return {"service": "serverless-fastapi", "stage": os.environ.get("STAGE", "local")}


@router.get("/health")
def health():
    return {"status": "ok"}
