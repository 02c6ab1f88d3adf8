"""The `multicloud` command against moto, as a user runs it: deploy, status, invoke, redeploy, remove.
The CLI runs in a subprocess and finds moto only through AWS_ENDPOINT_URL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from aws_e2e_support import write_service

pytestmark = [pytest.mark.moto, pytest.mark.docker, pytest.mark.slow]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("multicloud")
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, env=dict(os.environ),
                          timeout=300)


def test_cli_deploy_invoke_status_remove(moto: str, lambda_images: None, tmp_path: Path) -> None:
    root = write_service(tmp_path / "svc")
    deploy = cli("-o", "json", "deploy", "-t", "aws", cwd=root)
    assert deploy.returncode == 0, deploy.stderr + deploy.stdout
    assert "lambda-url" in deploy.stdout
    invoke = cli("-o", "json", "invoke", "-t", "aws", "--path", "/hello?name=cli", cwd=root)
    assert invoke.returncode == 0, invoke.stderr + invoke.stdout
    assert "hello cli" in invoke.stdout  # the query string in --path reached the handler
    status = cli("-o", "json", "status", "-t", "aws", cwd=root)
    assert status.returncode == 0 and '"active"' in status.stdout, status.stderr + status.stdout
    again = cli("-o", "json", "deploy", "-t", "aws", cwd=root)
    assert again.returncode == 0
    versions = boto3.client("lambda").list_versions_by_function(FunctionName="shop-test-hello")["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1"]  # nothing published the second time
    removed = cli("-o", "json", "remove", "-t", "aws", cwd=root)
    assert removed.returncode == 0, removed.stderr + removed.stdout
    assert boto3.client("lambda").list_functions()["Functions"] == []
    state = root / ".multicloud" / "state" / "aws.json"
    assert not state.exists() or "ssm:" not in state.read_text()
    missing = cli("-o", "json", "invoke", "-t", "aws", cwd=root)
    assert missing.returncode == 1, missing.stdout + missing.stderr
    json.loads(missing.stdout or missing.stderr or "{}")  # a JSON error, not a traceback
