"""`multicloud.client` finds a function where it is deployed (asking the target) and calls it there.

Runs against the real `local` target: a supervised runtime server on 127.0.0.1.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from multicloud.client import Client
from multicloud.errors import OperationError
from multicloud.orchestrate import deploy, provider_for
from multicloud.project import Project

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_client_locates_and_calls_a_local_deployment(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples" / "hello-http", tmp_path / "svc")
    project = Project.load(tmp_path / "svc")
    client = Client(project, prefer=("local",))
    with pytest.raises(OperationError, match="not deployed anywhere"):
        client.call("hello", path="/hello", target=None)
    deploy(project, "local", lambda _m: None)
    try:
        client = Client(project, prefer=("local",))
        assert client.locate("hello") == "local"
        reply = client.call("hello", path="/hello", query={"name": ["Client"]})
        assert (reply.target, reply.status) == ("local", 200)
        assert reply.json() == {"message": "Hello, Client!", "target": "local"}
        posted = client.call("hello", method="POST", path="/hello", json={"name": "Json"})
        assert posted.json() == {"message": "Hello, Json!", "target": "local"}
    finally:
        provider_for(project, "local").remove()


def test_candidates_follow_placement() -> None:
    client = Client(ROOT / "examples" / "hybrid-clinic")
    assert client.candidates("records") == ["docker"]  # confidential: never a public cloud
    assert client.candidates("slots") == ["aws"]
