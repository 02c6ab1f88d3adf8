"""Golden files for callers: the endpoints manifest and the OpenAPI document of every example.

Two states per example: not deployed (what `multicloud openapi --offline` prints) and deployed everywhere
its placement allows, each target reporting its functions the way that target's provider does (endpoint
formats as in providers/*: the private targets and Azure report the base URL plus the first route, AWS a
Function URL, GCP a Cloud Run URI). Every OpenAPI document must pass openapi-spec-validator. Regenerate
after an intended change with:

    MULTICLOUD_UPDATE_GOLDEN=1 pytest tests/functional/test_golden_clients.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from multicloud.endpoints import build_manifest, http_routes
from multicloud.openapi import openapi_document
from multicloud.project import Project
from multicloud.provider import FunctionStatus, StatusReport

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden"
EXAMPLES = ("hello-http", "orders", "hybrid-clinic")
UPDATE = os.environ.get("MULTICLOUD_UPDATE_GOLDEN") == "1"


def reported_endpoint(project: Project, target: str, function: str) -> str | None:
    """The endpoint `status` reports for a live function on `target`, in that provider's format."""
    fn = project.function(target, function)
    routes = http_routes(fn)
    if not routes:
        return None
    first = routes[0].path
    return {
        "local": f"http://127.0.0.1:8080{first}",
        "docker": f"http://127.0.0.1:49153{first}",
        "azure": f"https://{project.name}-app.azurewebsites.net{first}",
        "aws": f"https://{function}0a1b2c3d4e5f.lambda-url.{region(project)}.on.aws/",
        "gcp": f"https://{project.name}-{function}-x7k2-ew.a.run.app",
    }[target]


def region(project: Project) -> str:
    return str(getattr(project.settings("aws"), "region", None) or "us-east-1")


def deployed_everywhere(project: Project, targets: list[str]) -> dict[str, StatusReport]:
    """Every function running where it is placed; details as each provider's status gives them."""
    details = {"aws": {"region": region(project), "stage": "dev"}, "gcp": {"project": "p", "region": "europe-west1"},
               "local": {"url": "http://127.0.0.1:8080"}, "docker": {"url": "http://127.0.0.1:49153"}}
    def live(t: str) -> tuple[FunctionStatus, ...]:
        return tuple(FunctionStatus(f.name, "running", "v1", reported_endpoint(project, t, f.name))
                     for f in project.functions_for(t))

    return {t: StatusReport(t, True, live(t), details.get(t, {})) for t in targets}


def compare(name: str, data: Any, example: str) -> None:
    path = GOLDEN / example / "clients" / name
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"missing golden file {path}: run with MULTICLOUD_UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"{path} differs: review, then MULTICLOUD_UPDATE_GOLDEN=1"


@pytest.mark.parametrize("example", EXAMPLES)
def test_manifest_and_openapi_match_golden(example: str) -> None:
    project = Project.load(ROOT / "examples" / example)
    targets = project.default_targets()

    offline = openapi_document(project, targets)
    validate(offline)
    compare("openapi-offline.json", offline, example)
    compare("endpoints-undeployed.json", build_manifest(project, targets, {}), example)

    manifest = build_manifest(project, targets, deployed_everywhere(project, targets))
    compare("endpoints.json", manifest, example)
    served = openapi_document(project, targets, manifest)
    validate(served)
    compare("openapi.json", served, example)
    for target in targets:  # one document per target (`multicloud openapi --target T`)
        only = openapi_document(project, [target], manifest)
        validate(only)
        assert {s["description"] for s in only.get("servers", [])} <= {target}
