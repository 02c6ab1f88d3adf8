"""Every corpus service imports with no traceback, validates for aws and local, and nothing is dropped silently.

"Nothing dropped" is checked against the service's own file: every setting at the top level, under
`provider:`, of each function, each event's options and serverless-python-requirements' options either has
a place in the spec (the table below, written independently of the converter) or is named by a note (its
own path or a parent's). A converter that forgot a key fails here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from corpus import Service, services
from typer.testing import CliRunner

from multicloud.cli.app import app
from multicloud.migrate.source import read_service
from multicloud.project import Project

SERVICES = services()
CARRIED = {  # settings that land in the spec itself
    "top": {"service", "provider", "functions", "plugins", "resources", "constructs"},  # the last three: per item
    "provider": {"name", "runtime", "stage", "region", "memorySize", "timeout", "environment", "architecture",
                 "tags"},
    "function": {"handler", "events", "memorySize", "timeout", "environment", "description", "runtime", "module"},
    "http": {"method", "path"}, "httpApi": {"method", "path"}, "sqs": {"arn", "batchSize"},
    "stream": {"arn", "batchSize", "type", "startingPosition"}, "s3": {"bucket", "event", "rules"},
    "schedule": {"rate"},
}


def test_the_corpus_is_big_enough() -> None:
    assert len(SERVICES) >= 25
    assert sum(1 for s in SERVICES if s.requests) >= 15


def import_service(service: Service, dest: Path) -> tuple[Path, dict[str, Any]]:
    folder = service.copy_to(dest)
    args = ["-o", "json", "import", str(folder / "serverless.yml")]
    res = CliRunner().invoke(app, args, env={k: v for k, v in service.env.items()})
    assert res.exit_code == 0, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    return folder, json.loads(res.stdout)


def _paths(doc: dict[str, Any]) -> list[tuple[str, ...]]:
    """The settings that must each be carried over or noted."""
    out: list[tuple[str, ...]] = [(k,) for k in doc if k not in CARRIED["top"]]
    provider = doc.get("provider") if isinstance(doc.get("provider"), dict) else {}
    out += [("provider", k) for k in provider if k not in CARRIED["provider"]]
    functions = doc.get("functions") if isinstance(doc.get("functions"), dict) else {}
    for name, fn in functions.items():
        out += [("functions", name, k) for k in fn if k not in CARRIED["function"]]
        for index, event in enumerate(fn.get("events") or []):
            kind, body = next(iter(event.items())) if isinstance(event, dict) else (event, None)
            if kind not in CARRIED:
                out.append(("functions", name, f"events[{index}]", kind))
            elif isinstance(body, dict):
                out += [("functions", name, f"events[{index}]", kind, k) for k in body if k not in CARRIED[kind]]
    plugins = doc.get("plugins") if isinstance(doc.get("plugins"), list) else []
    out += [(f"plugins[{i}]",) for i in range(len(plugins))]
    constructs = doc.get("constructs") if isinstance(doc.get("constructs"), dict) else {}
    out += [("constructs", k) for k in constructs]
    resources = doc.get("resources") if isinstance(doc.get("resources"), dict) else {}
    out += [("resources", k) for k in resources if k != "Resources"]
    out += [("resources", "Resources", k) for k in resources.get("Resources") or {}]
    custom = doc.get("custom") if isinstance(doc.get("custom"), dict) else {}
    requirements = custom.get("pythonRequirements")
    if isinstance(requirements, dict):
        out += [("custom", "pythonRequirements", k) for k in requirements if k != "fileName"]
    return out


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_imports_validates_and_accounts_for_every_setting(service: Service, tmp_path: Path) -> None:
    folder, report = import_service(service, tmp_path)
    project = Project.load(folder)  # the spec loads, validates and passes its checks (handlers, routes)
    for target in ("aws", "local"):
        project.check_target(target)
    res = CliRunner().invoke(app, ["validate", str(folder), "--target", "aws,local"])
    assert res.exit_code == 0, res.output
    assert project.spec.functions, "at least one function converts"

    notes = [n["where"].split(": ", 1)[1] for n in report["not_converted"]]
    texts = " ".join(n["what"] for n in report["not_converted"])
    doc = read_service(folder / "serverless.yml")
    missing = []
    for path in _paths(doc):
        dotted = ".".join(path)
        if path[:2] == ("resources", "Resources") and f"declared as {path[2]} " in texts:
            continue  # a queue or stream a trigger uses: reported at that trigger
        if not any(dotted == n or dotted.startswith(n + ".") or dotted.startswith(n + "[") for n in notes):
            missing.append(dotted)
    assert not missing, f"not converted and not noted: {missing}"
    for name, fn in project.spec.functions.items():
        assert fn.style in ("aws", "wsgi", "asgi"), name  # an imported handler is never the portable style
    http_functions = {n for n, fn in project.spec.functions.items() if any(t.http for t in fn.triggers)}
    asked = {r.key for r in service.requests}
    assert http_functions == asked, "every HTTP function gets a request in SOURCE (test_corpus_run sends it)"
