"""Spec -> main.py, requirements.txt, functions.json and the source zip, checked against goldens and rules.

Real pieces only: the spec loader, the Jinja2 blueprints, the deterministic zip writer; the generated
main.py is compiled and its decorators read back with `ast`.
"""

from __future__ import annotations

import ast
import json
import os
import textwrap
import zipfile
from pathlib import Path

import pytest

from multicloud.errors import SpecError, SpecErrors, UnsupportedError
from multicloud.project import Project
from multicloud.provider import BuildResult
from multicloud.providers.gcp import GcpProvider
from multicloud.providers.gcp.build import FRAMEWORK
from multicloud.providers.gcp.model import cloud_functions, cron_of
from multicloud.spec.models import ScheduleTrigger

GOLDEN = Path(__file__).parent / "golden"


def _zip(built: BuildResult) -> zipfile.ZipFile:
    return zipfile.ZipFile(built.artifacts[0].path)


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert text == path.read_text(), f"{name} differs from the golden file (UPDATE_GOLDEN=1 to accept)"


def test_main_py_matches_golden_and_declares_each_entry_point(built: BuildResult) -> None:
    main = _zip(built).read("main.py").decode()
    _golden("main.py.golden", main)
    tree = ast.parse(main)
    decorated = {f.name: ast.unparse(f.decorator_list[0]) for f in tree.body if isinstance(f, ast.FunctionDef)}
    assert decorated == {"api": "_ff.http", "uploads": "_ff.cloud_event", "uploads_gone": "_ff.cloud_event",
                         "orders": "_ff.cloud_event", "nightly": "_ff.cloud_event", "class_": "_ff.cloud_event"}
    # the entry point recorded for the platform is exactly the decorated name
    assert {a.function: a.entry_point for a in built.artifacts}["class"] == "class_"
    compile(main, "main.py", "exec")


def test_requirements_framework_first_then_user_lines_with_includes(built: BuildResult) -> None:
    req = _zip(built).read("requirements.txt").decode()
    lines = [x for x in req.splitlines() if x and not x.startswith("#")]
    assert lines == [FRAMEWORK, "attrs>=23", "humanize==4.9.0"]


def test_user_pin_of_functions_framework_wins(service_dir: Path) -> None:
    (service_dir / "requirements-base.txt").write_text("functions_framework==3.9.1\n")
    req = GcpProvider(Project.load(service_dir)).build(service_dir / "out")
    text = _zip(req).read("requirements.txt").decode()
    assert "functions_framework==3.9.1" in text and FRAMEWORK not in text


def test_local_path_requirement_is_a_clear_error(service_dir: Path) -> None:
    (service_dir / "requirements-base.txt").write_text("-e ./libs/mine\n")
    with pytest.raises(SpecError) as info:
        GcpProvider(Project.load(service_dir)).build(service_dir / "out")
    assert "local paths" in info.value.what and info.value.fix and "requirements-base.txt:1" in str(info.value.where)


def test_zip_is_deterministic_and_holds_code_runtime_and_entry_points(service_dir: Path, built: BuildResult) -> None:
    again = GcpProvider(Project.load(service_dir)).build(service_dir / "again")
    assert again.digest == built.digest
    assert again.artifacts[0].path.read_bytes() == built.artifacts[0].path.read_bytes()
    names = set(_zip(built).namelist())
    assert {"main.py", "requirements.txt", "gcp_shop_handlers.py", "multicloud/__init__.py",
            "multicloud/runtime/gcp.py"} <= names
    assert not any(n.startswith((".multicloud/", "again/")) or n == "multicloud.yaml" for n in names)
    assert {i.date_time for i in _zip(built).infolist()} == {(1980, 1, 1, 0, 0, 0)}
    manifest = json.loads((built.out_dir / "build.json").read_text())
    assert manifest["functions"]["api"]["entry_point"] == "api"


def test_code_change_changes_the_digest(service_dir: Path, built: BuildResult) -> None:
    handler = service_dir / "gcp_shop_handlers.py"
    handler.write_text(handler.read_text() + "\n# changed\n")
    assert GcpProvider(Project.load(service_dir)).build(service_dir / "b2").digest != built.digest


def test_functions_json_holds_env_and_secret_references_only(built: BuildResult) -> None:
    text = (built.out_dir / "functions.json").read_text()
    data = json.loads(text)
    api = data["shop-api"]
    assert api["env"] == {"GREETING": "hello"}
    assert api["secrets"] == {"API_KEY": "projects/{project}/secrets/api-key/versions/latest",
                              "DB_PASSWORD": "projects/vault-project/secrets/db-password/versions/3"}
    assert "ssm:" not in text  # the aws reference of the per-target map stays out of the gcp artifact
    assert data["shop-uploads"]["event_trigger"] == {
        "bucket": "shop-uploads", "event_type": "google.cloud.storage.object.v1.finalized",
        "prefix": "incoming/", "suffix": ".csv", "topic": None}
    assert data["shop-orders"]["event_trigger"]["event_type"] == "google.cloud.pubsub.topic.v1.messagePublished"
    assert data["shop-nightly"]["schedules"] == [{"cron": "0 3 * * *", "job_id": "shop-nightly-0",
                                                 "source": "cron 0 3 * * *"}]
    assert data["shop-api"]["public"] is True and data["shop-nightly"]["public"] is False


def _project(tmp_path: Path, functions: str, service: str = "svc") -> Project:
    (tmp_path / "h.py").write_text("def f(event, context):\n    return None\n")
    (tmp_path / "multicloud.yaml").write_text(
        f"service: {service}\nfunctions:\n" + textwrap.indent(textwrap.dedent(functions), "  "))
    return Project.load(tmp_path)


@pytest.mark.parametrize("triggers, needle", [
    ("[{stream: {name: s}}]", "stream triggers are not available"),
    ("[{http: {}}, {storage: {bucket: bkt}}]", "needs 2 ways in"),
    ("[{storage: {bucket: bkt, events: [created, deleted]}}]", "needs 2 ways in"),
    ("[{queue: {name: a}}, {queue: {name: b}}]", "needs 2 ways in"),
])
def test_a_function_needing_two_ways_in_is_unsupported(tmp_path: Path, triggers: str, needle: str) -> None:
    project = _project(tmp_path, f"fn:\n  handler: h.f\n  triggers: {triggers}\n")
    with pytest.raises(UnsupportedError) as info:
        cloud_functions(project)
    assert needle in info.value.what and info.value.exit_code == 3 and info.value.fix
    assert "multicloud.yaml" in str(info.value.where)


@pytest.mark.parametrize("body, needle", [
    ("fn:\n  handler: h.f\n  secrets: {K: 'ssm:/x'}\n", "do not resolve on gcp"),
    ("fn:\n  handler: h.f\n  secrets: {K: 'gcp-secret:a/b/c'}\n", "not a Secret Manager secret path"),
    ("fn:\n  handler: h.f\n  env: {K_SERVICE: x}\n", "reserved"),
    ("fn:\n  handler: h.f\n  timeout: 900\n  triggers: [{queue: {name: q}}]\n", "gen2 limit of 540s"),
    ("a-function-name-that-is-long-enough-x:\n  handler: h.f\n", "63 characters"),
    ("a-b:\n  handler: h.f\na_b:\n  handler: h.f\n", "same Cloud Function id"),
])
def test_bad_gcp_settings_are_located_spec_errors(tmp_path: Path, body: str, needle: str) -> None:
    service = "a-long-service-name-for-testing-ids-xyz" if "long-enough" in body else "svc"
    project = _project(tmp_path, body, service)
    with pytest.raises(SpecError) as info:
        cloud_functions(project)
    errors = info.value.errors if isinstance(info.value, SpecErrors) else [info.value]
    assert any(needle in e.what for e in errors), [e.what for e in errors]
    assert all(e.fix and e.exit_code == 2 and "multicloud.yaml" in str(e.where) for e in errors)


def test_reserved_labels_are_refused(service_dir: Path) -> None:
    spec = service_dir / "multicloud.yaml"
    spec.write_text(spec.read_text().replace("labels: {team: payments}", "labels: {managed-by: me}"))
    with pytest.raises(SpecError) as info:
        cloud_functions(Project.load(service_dir))
    assert "reserved" in info.value.what and "targets.gcp.labels" in str(info.value.where)


def test_service_main_py_would_shadow_the_generated_one(service_dir: Path) -> None:
    (service_dir / "main.py").write_text("print('mine')\n")
    with pytest.raises(SpecError) as info:
        GcpProvider(Project.load(service_dir)).build(service_dir / "out")
    assert "main.py" in info.value.what and info.value.fix


@pytest.mark.parametrize("rate, cron", [
    ("5m", "*/5 * * * *"), ("15m", "*/15 * * * *"), ("60m", "0 */1 * * *"), ("1h", "0 */1 * * *"),
    ("6h", "0 */6 * * *"), ("24h", "0 0 * * *"), ("1d", "0 0 * * *"),
])
def test_even_rates_become_cron(rate: str, cron: str) -> None:
    assert cron_of(ScheduleTrigger(rate=rate)) == cron


@pytest.mark.parametrize("rate", ["7m", "90m", "5h", "2d"])
def test_uneven_rates_are_refused_rather_than_drifting(rate: str) -> None:
    with pytest.raises(SpecError, match="evenly spaced"):
        cron_of(ScheduleTrigger(rate=rate))
