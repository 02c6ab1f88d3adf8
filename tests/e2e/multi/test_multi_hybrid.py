"""The hybrid clinic (examples/hybrid-clinic) end to end: `multicloud deploy` with no --target puts the public
`slots` on aws (moto) and the confidential `records` on the private docker cloud, and nowhere else;
`multicloud.client` finds each function where it runs without being told; plan is then a no-op and
`remove` with no --target clears both targets."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest
from multi_support import cli

from multicloud.client import Client
from multicloud.errors import OperationError, UsageError
from multicloud.orchestrate import provider_for
from multicloud.project import Project

pytestmark = [pytest.mark.moto, pytest.mark.docker, pytest.mark.slow]

AUTH_KEY = "clinic-test-auth-key"
RECORDS_KEY = "clinic-test-records-key"


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """A plain HTTP GET, as any caller of the private endpoint makes it."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def containers_of(engine: Any, service: str) -> list[Any]:
    return engine.containers.list(all=True, filters={"label": f"io.multicloud.service={service}"})


def test_hybrid_service_deploys_each_function_where_placement_allows(
        clinic: Path, engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MULTICLOUD_AUTH_KEY", AUTH_KEY)  # the docker target's key for `auth: key` routes
    monkeypatch.setenv("CLINIC_RECORDS_KEY", RECORDS_KEY)  # records' secret, by reference (env:)
    service = Project.load(clinic).name
    lam = boto3.client("lambda")

    # deploy, no --target: each function goes where its placement allows
    run = cli("-o", "json", "deploy", cwd=clinic)
    assert run.returncode == 0, run.stdout + run.stderr
    data = json.loads(run.stdout)
    assert data["ok"] is True and data["service"] == service
    by_target = {t["target"]: t for t in data["targets"]}
    assert list(by_target) == ["aws", "docker"], data
    assert all(t["ok"] for t in by_target.values()), data
    assert [e["function"] for e in by_target["aws"]["endpoints"]] == ["slots"], data
    assert [e["function"] for e in by_target["docker"]["endpoints"]] == ["records"], data
    docker_url = by_target["docker"]["endpoints"][0]["url"]

    # aws, read back from the (moto) API: the public function only, tagged as this service
    functions = lam.list_functions()["Functions"]
    assert [f["FunctionName"] for f in functions] == [f"{service}-test-slots"], functions
    tags = lam.list_tags(Resource=functions[0]["FunctionArn"])["Tags"]
    assert service in tags.values(), tags
    assert not any("records" in f["FunctionName"] for f in functions)

    # docker, asked over plain HTTP: the engine serves records (behind the key) and not slots
    base = docker_url.split("/records", 1)[0]
    assert get(f"{base}/slots")[0] == 404
    assert get(f"{base}/records/7")[0] == 401
    status, body = get(f"{base}/records/7", {"X-Multicloud-Key": AUTH_KEY})
    assert status == 200 and json.loads(body)["served_by"] == "docker", body
    running = [c for c in containers_of(engine, service) if c.status == "running"]
    assert running, containers_of(engine, service)

    # the client finds each function where it runs, without being told the target
    client = Client(clinic)
    assert client.candidates("slots") == ["aws"] and client.candidates("records") == ["docker"]
    slots = client.call("slots")
    assert (slots.target, slots.status) == ("aws", 200), slots
    assert slots.json() == {"slots": ["09:00", "09:30", "10:00"], "served_by": "aws"}
    records = client.call("records", path="/records/42")  # the docker provider adds the key
    assert (records.target, records.status) == ("docker", 200), records
    assert records.json() == {"patient": "42", "allergies": [], "served_by": "docker"}
    # the secret reached the function: the pseudonyms it logged (for 7, then 42) are keyed with RECORDS_KEY
    refs = [hmac.new(RECORDS_KEY.encode(), p, hashlib.sha256).hexdigest()[:16] for p in (b"7", b"42")]
    logged = [json.loads(r.message) for r in provider_for(Project.load(clinic), "docker").logs("records", None, False)]
    read = [line for line in logged if line.get("message") == "record read"]
    assert [line["patient_ref"] for line in read] == refs, logged
    assert not {"7", "42"} & {str(value) for line in read for value in line.values()}
    # nor does the runtime's access log carry them: it names the route, not the values in the path
    raw = provider_for(Project.load(clinic), "docker").mode().live().logs().decode()
    assert '"path": "/records/{patient}"' in raw and "/records/42" not in raw and "/records/7" not in raw, raw
    # asking for the confidential function on aws is refused, saying why
    with pytest.raises(UsageError, match="records") as refused:
        client.call("records", path="/records/42", target="aws")
    assert "confidential" in refused.value.what, refused.value.to_dict()

    # plan afterwards: nothing to do on either target
    plan = cli("-o", "json", "plan", cwd=clinic)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    planned = json.loads(plan.stdout)
    assert [t["target"] for t in planned["targets"]] == ["aws", "docker"], planned
    for target in planned["targets"]:
        assert target["changes"] and all(c["action"] == "noop" for c in target["changes"]), target

    # remove, no --target: both targets are cleared
    removed = cli("-o", "json", "remove", "--yes", cwd=clinic)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert lam.list_functions()["Functions"] == []
    assert containers_of(engine, service) == []
    project = Project.load(clinic)
    assert not provider_for(project, "aws").status().deployed
    assert not provider_for(project, "docker").status().deployed
    with pytest.raises(OperationError, match="not deployed anywhere"):
        Client(clinic).call("slots")
