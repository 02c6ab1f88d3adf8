"""Existing code on (emulated) AWS: the bring-your-own example, a Lambda handler and a Flask app, deployed to
moto and run in the emulation image by AWS's own runtime interface client (awslambdaric), exactly as the
built zip would run on Lambda: the Lambda handler gets the native Function URL / SQS event, the Flask app
is served through the shim's WSGI adapter with its dependency installed for Lambda's platform."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import boto3
import pytest
from aws_e2e_support import build, provider

from multicloud.provider import InvokeRequest

pytestmark = [pytest.mark.moto, pytest.mark.docker, pytest.mark.slow]

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "bring-your-own"


def test_a_lambda_handler_and_a_flask_app_run_unchanged(moto: str, lambda_images: None, tmp_path: Path) -> None:
    root = tmp_path / "byo"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("__pycache__", ".multicloud"))
    boto3.client("sqs", region_name="eu-west-1").create_queue(QueueName="orders")  # data: never multicloud's
    p = provider(root)
    p.deploy(build(p))

    orders = provider(root).invoke(InvokeRequest(function="orders", path="/orders/7", query={"x": ["1"]}))
    assert orders.ok and orders.status == 200, orders.error
    assert json.loads(orders.body) == {"order": "7", "by": "bring-your-own-dev-orders", "query": {"x": "1"}}

    hello = provider(root).invoke(InvokeRequest(function="web", path="/web/hello", query={"name": ["Ada"]}))
    assert hello.ok and json.loads(hello.body) == {"message": "Hello, Ada!"}, hello.error
    echo = provider(root).invoke(InvokeRequest(function="web", method="POST", path="/web/echo", body=bytes(range(256)),
                                               headers={"Content-Type": "application/octet-stream"}))
    assert (echo.status, echo.body) == (201, bytes(range(256))), echo.error

    good = provider(root).invoke(InvokeRequest(function="fulfil", trigger="queue", body=b'{"sku": "a-1"}'))
    bad = provider(root).invoke(InvokeRequest(function="fulfil", trigger="queue", body=b'{"qty": 1}'))
    assert json.loads(good.body) == {"batchItemFailures": []}, good.error
    failures = json.loads(bad.body)["batchItemFailures"]
    assert len(failures) == 1 and failures[0]["itemIdentifier"], bad.body
    p.remove()
