"""Cold-start secret resolution: ssm/secretsmanager through boto3 against a moto server reached via the
standard AWS_ENDPOINT_URL, env:/file: for the private runtime, and errors that never carry values."""

from __future__ import annotations

import json
import socket

import boto3
import pytest

from multicloud.runtime import secrets
from multicloud.runtime.secrets import SecretResolutionError, resolve_into_environ


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def moto_endpoint(monkeypatch):
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    for name, value in {"AWS_ENDPOINT_URL": url, "AWS_DEFAULT_REGION": "eu-west-1",
                        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(secrets, "_clients", {})
    yield url
    server.stop()


@pytest.mark.moto
@pytest.mark.slow
def test_ssm_and_secretsmanager_through_aws_endpoint_url(moto_endpoint) -> None:
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name="/orders/api-key", Value="s3cr3t-ssm", Type="SecureString")
    sm = boto3.client("secretsmanager")
    sm.create_secret(Name="prod/db-password", SecretString="s3cr3t-sm")
    env = {"MULTICLOUD_SECRETS": json.dumps({"API_KEY": "ssm:/orders/api-key",
                                             "DB_PASSWORD": "secretsmanager:prod/db-password"})}
    assert resolve_into_environ(env) == ["API_KEY", "DB_PASSWORD"]
    assert env["API_KEY"] == "s3cr3t-ssm" and env["DB_PASSWORD"] == "s3cr3t-sm"
    assert resolve_into_environ(env) == []  # idempotent: a warm start does not fetch again


@pytest.mark.moto
@pytest.mark.slow
def test_missing_parameter_is_a_clear_error(moto_endpoint) -> None:
    env = {"MULTICLOUD_SECRETS": json.dumps({"API_KEY": "ssm:/nope"})}
    with pytest.raises(SecretResolutionError, match="resolving secret for API_KEY failed") as info:
        resolve_into_environ(env)
    assert info.value.where == "ssm:/nope" and info.value.__cause__ is not None


def test_env_and_file_references(tmp_path) -> None:
    secret_file = tmp_path / "token"
    secret_file.write_text("file-value\n")
    env = {"HOST_TOKEN": "env-value",
           "MULTICLOUD_SECRETS": json.dumps({"A": "env:HOST_TOKEN", "B": f"file:{secret_file}"})}
    resolve_into_environ(env)
    assert (env["A"], env["B"]) == ("env-value", "file-value")


def test_errors_name_the_reference_never_the_value(tmp_path) -> None:
    env = {"MULTICLOUD_SECRETS": json.dumps({"A": "env:NOT_SET_ANYWHERE"})}
    with pytest.raises(SecretResolutionError, match="A"):
        resolve_into_environ(env)
    with pytest.raises(SecretResolutionError, match="resolved by the platform"):
        resolve_into_environ({"MULTICLOUD_SECRETS": json.dumps({"A": "keyvault:https://v/secrets/a"})})
    with pytest.raises(SecretResolutionError, match="not valid JSON"):
        resolve_into_environ({"MULTICLOUD_SECRETS": "{oops"})
    with pytest.raises(SecretResolutionError, match="not a secret reference"):
        resolve_into_environ({"MULTICLOUD_SECRETS": json.dumps({"A": "hunter2"})})
    assert resolve_into_environ({}) == []
