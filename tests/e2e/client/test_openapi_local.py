"""The OpenAPI document of a service deployed to the `local` target, used the way callers use it.

`multicloud openapi --target local` lists the live server; the document passes openapi-spec-validator;
Schemathesis generates requests from it (valid and invalid path parameters, queries, bodies, with and
without the key) and finds no server error: the handlers below answer 2xx/4xx only, so any 5xx would be
the runtime's own. The curl commands `curl_examples` makes of the same document (those in docs/client.md)
run against the deployment and succeed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from multicloud.openapi import curl_examples
from multicloud.orchestrate import deploy, provider_for
from multicloud.project import Project

pytestmark = pytest.mark.slow

HANDLERS = '''
import json

from multicloud import Response


def items(event, context):
    req = event.http
    if req.method == "POST":
        try:
            data = json.loads(req.body or b"null")
        except (ValueError, RecursionError):
            return Response(400, body={"error": "the body is not JSON"})
        return Response(201, body={"created": data})
    return {"items": [], "query": req.query}


def item(event, context):
    req = event.http
    if req.method == "DELETE":
        return Response(204, body=b"")
    return {"id": req.path_params.get("id"), "method": req.method, "bytes": len(req.body or b"")}


def files(event, context):
    return {"key": event.http.path_params.get("key")}
'''

SPEC = """\
service: fuzzed
runtime: python3.11
functions:
  items:
    handler: app.items
    timeout: 10
    triggers:
      - http: {path: /items, methods: [GET, POST]}
  item:
    handler: app.item
    timeout: 10
    triggers:
      - http: {path: "/items/{id}", methods: [GET, PUT, DELETE], auth: key}
  files:
    handler: app.files
    timeout: 10
    triggers:
      - http: {path: "/files/{key+}", methods: [GET]}
targets:
  local: {}
"""


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, str]]:
    """(project root, live base URL, the local key)."""
    root = tmp_path_factory.mktemp("openapi") / "svc"
    root.mkdir()
    (root / "app.py").write_text(HANDLERS)
    (root / "multicloud.yaml").write_text(SPEC)
    project = Project.load(root)
    result = deploy(project, "local", lambda _m: None)
    try:
        yield root, result.details["url"], (root / ".multicloud" / "local" / "auth.key").read_text().strip()
    finally:
        provider_for(project, "local").remove()


def openapi_of(root: Path) -> dict[str, object]:
    exe = Path(sys.executable).with_name("multicloud")
    run = subprocess.run([str(exe), "openapi", str(root), "--target", "local"], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    doc: dict[str, object] = json.loads(run.stdout)
    return doc


def test_the_document_lists_the_live_server_and_validates(deployed: tuple[Path, str, str]) -> None:
    root, url, _key = deployed
    doc = openapi_of(root)
    validate(doc)
    assert doc["servers"] == [{"url": url, "description": "local"}]
    assert set(doc["paths"]) == {"/items", "/items/{id}", "/files/{key}"}  # type: ignore[arg-type]


def test_schemathesis_finds_no_server_error(deployed: tuple[Path, str, str], tmp_path: Path) -> None:
    root, url, key = deployed
    doc = openapi_of(root)
    (tmp_path / "openapi.json").write_text(json.dumps(doc))
    st = Path(sys.executable).with_name("schemathesis")
    assert st.exists(), "schemathesis is part of the test extra"
    run = subprocess.run(
        [str(st), "run", str(tmp_path / "openapi.json"), "--url", doc["servers"][0]["url"],  # type: ignore[index]
         "--checks", "not_a_server_error", "--mode", "all", "--max-examples", "40", "--seed", "18",
         "--workers", "1", "--request-timeout", "20",
         "--generation-database", "none", "-H", f"X-Multicloud-Key: {key}", "--no-color",
         "--report", "junit", "--report-junit-path", str(tmp_path / "junit.xml")],
        capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    report = (tmp_path / "junit.xml").read_text()
    operations = {"POST /items", "GET /items", "GET /files/{key}", "GET /items/{id}", "PUT /items/{id}",
                  "DELETE /items/{id}"}
    assert all(f'<testcase name="{op}"' in report for op in operations), report  # every operation exercised
    assert 'failures="0"' in report and 'errors="0"' in report, report
    counted = re.search(r"(\d+) generated, (\d+) passed", run.stdout)
    assert counted is not None and int(counted.group(1)) >= 200 and counted.group(1) == counted.group(2), run.stdout


def test_the_generated_curl_commands_work(deployed: tuple[Path, str, str]) -> None:
    root, url, key = deployed
    commands = [line for line in curl_examples(openapi_of(root)).splitlines() if line.startswith("curl ")]
    assert len(commands) == 6
    bash = shutil.which("bash")
    assert bash is not None and shutil.which("curl") is not None
    for command in commands:
        run = subprocess.run([bash, "-c", command + " -o /dev/null -w '%{http_code}'"], capture_output=True, text=True,
                             timeout=60, env={**os.environ, "LOCAL_URL": url, "MULTICLOUD_KEY_LOCAL": key})
        assert run.returncode == 0 and run.stdout in ("200", "201", "204"), (command, run.stdout, run.stderr)
