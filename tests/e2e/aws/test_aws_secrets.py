"""Secrets by reference, end to end: deploy puts only references in MULTICLOUD_SECRETS and grants read on
exactly those; the runtime inside the Lambda container resolves them from SSM and Secrets Manager (moto,
reached the way moto tells containers to) at cold start. The values never reach the function's
configuration, the package, the state file, the SAM export or the logs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import boto3
import pytest
from aws_e2e_support import build, provider, write_service

from multicloud.provider import InvokeRequest

pytestmark = [pytest.mark.moto, pytest.mark.docker, pytest.mark.slow]

SECRETS = """\
    secrets:
      API_KEY: ssm:/shop/api-key
      DB_PASSWORD: secretsmanager:shop/db
"""
API_KEY = "k3y-value-never-written-anywhere"
DB_PASSWORD = "pa55-value-never-written-anywhere"


def test_secrets_are_resolved_by_the_runtime_and_never_written(moto: str, moto_for_containers: str,
                                                                lambda_images: None, tmp_path: Path) -> None:
    boto3.client("ssm").put_parameter(Name="/shop/api-key", Value=API_KEY, Type="SecureString")
    boto3.client("secretsmanager").create_secret(Name="shop/db", SecretString=DB_PASSWORD)
    root = write_service(tmp_path / "svc", extra=SECRETS)
    p = provider(root)
    artifact = build(p)
    p.deploy(artifact)

    result = provider(root).invoke(InvokeRequest(function="hello", trigger="direct"))
    assert result.ok, result.error
    digests = json.loads(result.body)["secrets"]
    assert digests == {"API_KEY": hashlib.sha256(API_KEY.encode()).hexdigest(),
                       "DB_PASSWORD": hashlib.sha256(DB_PASSWORD.encode()).hexdigest()}

    conf = boto3.client("lambda").get_function_configuration(FunctionName="shop-test-hello", Qualifier="live")
    written = [json.dumps(conf), artifact.artifacts[0].path.read_bytes().decode("latin-1"),
               (root / ".multicloud" / "state" / "aws.json").read_text(),
               "\n".join(r.message for r in provider(root).logs("hello", None, False))]
    out = provider(root).export("sam", tmp_path / "sam")
    written.append(out[0].read_text())
    for text in written:
        assert API_KEY not in text and DB_PASSWORD not in text
    assert "ssm:/shop/api-key" in written[0]  # the reference is what travels
