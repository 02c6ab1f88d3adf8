"""The endpoints manifest and the OpenAPI document, built from specs and status reports (no target asked),
and the two commands on a service deployed nowhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openapi_spec_validator import validate
from typer.testing import CliRunner

from multicloud.cli.app import app
from multicloud.endpoints import base_url, build_manifest, live_functions, load_manifest, preference, route_auth
from multicloud.errors import UsageError
from multicloud.openapi import curl_examples, openapi_document
from multicloud.project import Project
from multicloud.provider import FunctionStatus, StatusReport

ROOT = Path(__file__).resolve().parents[3]

SPEC = """\
service: shop
functions:
  api:
    handler: app.api
    triggers:
      - http: {path: /items, methods: [GET], auth: none}
      - http: {path: "/items/{id}", methods: [GET, PUT], auth: key}
  files:
    handler: app.files
    placement: {allowed_targets: [gcp, docker, aws]}
    triggers:
      - http: {path: "/files/{key+}", methods: [GET, POST]}
  admin:
    handler: app.admin
    placement: {data_class: confidential}
    triggers:
      - http: {path: "/admin/{id}", methods: [DELETE], auth: key}
  work:
    handler: app.work
    triggers:
      - queue: {name: jobs}
targets:
  local: {}
  docker: {}
  aws: {region: eu-central-1}
  azure: {}
  gcp: {project: shop-prod, region: europe-west1, allow_unauthenticated: GCP_OPEN}
"""


def project(tmp_path: Path, gcp_open: bool = True) -> Project:
    (tmp_path / "app.py").write_text("def api(e, c): ...\ndef files(e, c): ...\ndef admin(e, c): ...\n"
                                     "def work(e, c): ...\n")
    (tmp_path / "multicloud.yaml").write_text(SPEC.replace("GCP_OPEN", str(gcp_open).lower()))
    return Project.load(tmp_path)


TARGETS = ["aws", "azure", "gcp", "docker", "local"]


def test_preference_follows_allowed_targets_else_private_first(tmp_path: Path) -> None:
    p = project(tmp_path)
    assert preference(p, "api", TARGETS) == ["local", "docker", "aws", "azure", "gcp"]
    assert preference(p, "files", TARGETS) == ["gcp", "docker", "aws"]  # the user's order
    assert preference(p, "admin", TARGETS) == ["local", "docker"]  # confidential: never a public cloud
    assert preference(p, "api", ["gcp", "docker"]) == ["docker", "gcp"]


def test_route_auth_per_target(tmp_path: Path) -> None:
    p = project(tmp_path)
    items, item = (t.config for t in p.spec.functions["api"].triggers)
    auth = {t: (route_auth(p, t, p.function(t, "api"), items), route_auth(p, t, p.function(t, "api"), item))
            for t in TARGETS}
    key = {"type": "key", "header": "X-Multicloud-Key"}
    none = {"type": "none"}
    assert auth["local"] == auth["docker"] == (none, key)  # per route
    assert auth["azure"] == (none, {"type": "key", "header": "x-functions-key"})
    # a Function URL's auth type and a Cloud Run service's IAM cover the whole function
    assert auth["aws"] == ({"type": "iam", "scheme": "aws-sigv4", "service": "lambda"},) * 2
    assert auth["gcp"] == ({"type": "iam", "scheme": "google-id-token"},) * 2
    files = p.spec.functions["files"].triggers[0].config
    assert route_auth(p, "gcp", p.function("gcp", "files"), files) == none  # public function
    (tmp_path / "closed").mkdir()
    closed = project(tmp_path / "closed", gcp_open=False)  # a private Cloud Run service
    assert route_auth(closed, "gcp", closed.function("gcp", "files"), files)["type"] == "iam"


@pytest.mark.parametrize(("endpoint", "base"), [
    ("http://127.0.0.1:8080/items", "http://127.0.0.1:8080"),  # private targets, azure: base + first route
    ("https://abc.lambda-url.eu-central-1.on.aws/", "https://abc.lambda-url.eu-central-1.on.aws"),
    ("https://shop-api-x7-ew.a.run.app", "https://shop-api-x7-ew.a.run.app"),
])
def test_base_url(tmp_path: Path, endpoint: str, base: str) -> None:
    assert base_url(project(tmp_path).function("local", "api"), endpoint) == base


def test_live_functions_reads_azure_split_names_and_skips_stopped() -> None:
    report = StatusReport("azure", True, (FunctionStatus("api (api_http_1)", "running", endpoint="https://h/items"),
                                          FunctionStatus("api (api_http_2)", "running", endpoint=None),
                                          FunctionStatus("files", "stopped", endpoint="https://h/files")))
    assert set(live_functions(report)) == {"api"}
    assert live_functions(report)["api"].endpoint == "https://h/items"


def test_manifest_lists_live_targets_in_order_with_their_auth(tmp_path: Path) -> None:
    p = project(tmp_path)
    reports = {
        "local": StatusReport("local", True, (FunctionStatus("api", "stopped", endpoint="http://127.0.0.1:1/items"),
                                              FunctionStatus("work", "running"))),
        "docker": StatusReport("docker", True, (FunctionStatus("api", "running", endpoint="http://127.0.0.1:2/items"),
                                                FunctionStatus("files", "running",
                                                               endpoint="http://127.0.0.1:2/files/{key+}"))),
        "aws": StatusReport("aws", True, (FunctionStatus("api", "active", endpoint="https://a.lambda-url.x.on.aws/"),),
                            {"region": "eu-central-1"}),
    }
    m = build_manifest(p, TARGETS, reports)
    api = m["functions"]["api"]
    assert api["placement"] == {"data_class": "public", "order": ["local", "docker", "aws", "azure", "gcp"]}
    assert [(e["target"], e["url"]) for e in api["targets"]] == [
        ("docker", "http://127.0.0.1:2"), ("aws", "https://a.lambda-url.x.on.aws")]  # local is stopped
    assert api["targets"][1]["routes"][1] == {"path": "/items/{id}", "methods": ["GET", "PUT"], "auth": {
        "type": "iam", "scheme": "aws-sigv4", "service": "lambda", "region": "eu-central-1"}}
    assert m["functions"]["files"]["targets"][0]["url"] == "http://127.0.0.1:2"
    assert m["functions"]["admin"]["targets"] == []
    assert m["queues"] == {"jobs": {"functions": ["work"], "targets": ["local"], "send": [
        {"target": "local", "url": None, "why": "local reported no URL: check `multicloud status -t local`"}]}}
    assert m["functions"]["work"]["targets"] == [{"target": "local", "url": None, "routes": []}]
    assert load_manifest(json.loads(json.dumps(m))) == m


QUEUE_ONLY = """\
service: shop
functions:
  work:
    handler: app.work
    triggers:
      - queue: {name: "jobs.new"}
      - stream: {name: clicks}
targets:
  local: {}
  docker: {DOCKER}
  aws: {region: eu-central-1}
  azure: {}
  gcp: {project: shop-prod, region: europe-west1}
"""


@pytest.mark.parametrize("docker_key", [False, True])
def test_manifest_says_where_each_channel_takes_messages_and_why_not(tmp_path: Path, docker_key: bool) -> None:
    (tmp_path / "app.py").write_text("def work(e, c): ...\n")
    docker = "{auth_key: 'env:SHOP_KEY'}" if docker_key else "{}"
    (tmp_path / "multicloud.yaml").write_text(QUEUE_ONLY.replace("{DOCKER}", docker))
    p = Project.load(tmp_path)
    reports = {t: StatusReport(t, True, (FunctionStatus("work", "running"),), {"url": f"http://127.0.0.1:{i}/"}
                               if t in ("local", "docker") else {}) for i, t in enumerate(TARGETS, 1)}
    m = build_manifest(p, TARGETS, reports)
    send = {e["target"]: e for e in m["queues"]["jobs.new"]["send"]}
    assert [e["target"] for e in m["queues"]["jobs.new"]["send"]] == ["local", "docker", "aws", "azure", "gcp"]
    assert send["local"] == {"target": "local", "url": "http://127.0.0.1:5/_queues/jobs.new",
                             "auth": {"type": "key", "header": "X-Multicloud-Key"}}
    if docker_key:
        assert send["docker"]["url"] == "http://127.0.0.1:4/_queues/jobs.new"
    else:
        assert send["docker"]["url"] is None and "holds no key" in send["docker"]["why"]
    assert send["aws"]["url"] is None and "SigV4" in send["aws"]["why"]
    assert "Entra" in send["azure"]["why"] and "OAuth" in send["gcp"]["why"]
    assert m["streams"]["clicks"]["send"][0]["url"] == "http://127.0.0.1:5/_streams/clicks"
    assert "KEY" not in json.dumps(m).replace("X-Multicloud-Key", "")  # a header name, never a key


def test_load_manifest_refuses_what_is_not_one(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read the endpoints manifest"):
        load_manifest(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(UsageError, match="is not JSON"):
        load_manifest(tmp_path / "bad.json")
    with pytest.raises(UsageError, match="not a multicloud endpoints manifest"):
        load_manifest({"openapi": "3.1.0"})
    with pytest.raises(UsageError, match="version 9 is not supported"):
        load_manifest({"manifest": "multicloud-endpoints", "version": 9, "functions": {}})


def test_openapi_document_validates_and_describes_every_target(tmp_path: Path) -> None:
    p = project(tmp_path)
    doc = openapi_document(p, TARGETS)
    validate(doc)
    assert "servers" not in doc  # nothing asked, nothing live
    item = doc["paths"]["/items/{id}"]
    assert set(item) == {"get", "put"} and "requestBody" in item["put"] and "requestBody" not in item["get"]
    assert item["get"]["parameters"] == [{"name": "id", "in": "path", "required": True,
                                          "schema": {"type": "string", "minLength": 1}, "example": "1"}]
    assert item["get"]["x-multicloud-targets"] == {
        "local": "multicloud_key", "docker": "multicloud_key", "aws": "aws_sigv4", "azure": "azure_function_key",
        "gcp": "google_id_token"}
    assert {"multicloud_key": []} in item["get"]["security"] and {} not in item["get"]["security"]
    assert {} in doc["paths"]["/items"]["get"]["security"]  # open on some targets
    greedy = doc["paths"]["/files/{key}"]["post"]["parameters"][0]
    assert greedy["x-multicloud-greedy"] is True
    schemes = doc["components"]["securitySchemes"]
    assert schemes["multicloud_key"]["x-multicloud-targets"] == ["docker", "local"]
    assert schemes["google_id_token"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description":
                                          schemes["google_id_token"]["description"], "x-multicloud-targets": ["gcp"]}
    only = openapi_document(p, ["docker"])
    assert set(only["components"]["securitySchemes"]) == {"multicloud_key"}
    assert "/admin/{id}" in only["paths"] and "/admin/{id}" not in openapi_document(p, ["aws"])["paths"]


def test_openapi_servers_come_from_the_manifest_per_function(tmp_path: Path) -> None:
    p = project(tmp_path)
    reports = {"docker": StatusReport("docker", True, (
        FunctionStatus("api", "running", endpoint="http://127.0.0.1:2/items"),
        FunctionStatus("admin", "running", endpoint="http://127.0.0.1:2/admin/{id}"))),
        "aws": StatusReport("aws", True, (FunctionStatus("api", "active", endpoint="https://a.on.aws/"),))}
    doc = openapi_document(p, TARGETS, build_manifest(p, TARGETS, reports))
    validate(doc)
    assert doc["servers"] == [{"url": "http://127.0.0.1:2", "description": "docker"},
                              {"url": "https://a.on.aws", "description": "aws"}]
    assert "servers" not in doc["paths"]["/items"]["get"]  # api is on every server
    assert doc["paths"]["/admin/{id}"]["delete"]["servers"] == [{"url": "http://127.0.0.1:2", "description": "docker"}]


def test_curl_examples_name_each_targets_auth(tmp_path: Path) -> None:
    text = curl_examples(openapi_document(project(tmp_path), ["docker", "aws", "gcp", "azure"]))
    assert 'curl -s "$DOCKER_URL/items/1" -H "X-Multicloud-Key: $MULTICLOUD_KEY_DOCKER"' in text
    assert ('curl -s -X PUT "$AWS_URL/items/1" --aws-sigv4 "aws:amz:$AWS_REGION:lambda" --user '
            '"$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -H \'Content-Type: application/json\' -d \'{}\'') in text
    assert 'curl -s "$GCP_URL/items" -H "Authorization: Bearer $(gcloud auth print-identity-token)"' in text
    assert 'curl -s "$AZURE_URL/items/1" -H "x-functions-key: $MULTICLOUD_KEY_AZURE"' in text
    assert 'curl -s -X POST "$DOCKER_URL/files/path/to/item"' in text


def test_commands_on_a_service_deployed_nowhere(tmp_path: Path) -> None:
    src = ROOT / "examples" / "hello-http"
    res = CliRunner().invoke(app, ["-o", "json", "endpoints", str(src)])
    assert res.exit_code == 0, res.output
    manifest = json.loads(res.stdout)
    assert manifest["functions"]["hello"] == {"placement": {"data_class": "public", "order": ["local"]},
                                              "targets": []}
    res = CliRunner().invoke(app, ["openapi", str(src), "--offline"])
    assert res.exit_code == 0, res.output
    validate(json.loads(res.stdout))
    res = CliRunner().invoke(app, ["endpoints", str(src), "--target", "nowhere"])
    assert res.exit_code == 2 and "unknown target 'nowhere'" in res.output
