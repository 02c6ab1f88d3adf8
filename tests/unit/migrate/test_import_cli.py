"""`multicloud import` from the command line, on a realistic Serverless Framework v3 service."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from multicloud.cli.app import app
from multicloud.project import Project

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "serverless"


def copy_fixture(tmp_path: Path) -> Path:
    for name in ("serverless.yml", "handler.py", "jobs.py"):
        shutil.copy(FIXTURE / name, tmp_path / name)
    return tmp_path / "serverless.yml"


def test_import_writes_a_spec_that_validates_and_lists_the_rest(tmp_path: Path) -> None:
    src = copy_fixture(tmp_path)
    res = CliRunner().invoke(app, ["--output", "json", "import", str(src), "--stage", "prod"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    project = Project.load(tmp_path)  # loads, validates and checks handlers and routes
    spec = project.spec
    assert spec.service == "shop-api" and spec.runtime == "python3.12"
    assert spec.targets.aws is not None
    assert (spec.targets.aws.region, spec.targets.aws.architecture, spec.targets.aws.stage,
            spec.targets.aws.http) == ("eu-west-1", "arm64", "prod", "http_api")

    create = spec.functions["createorder"]
    assert (create.style, create.memory, create.timeout) == ("aws", 512, 20)
    assert [(t.http.path, t.http.methods) for t in create.triggers if t.http] == [
        ("/orders", ("POST",)), ("/orders/{id}", ("GET",))]
    assert create.env == {"TABLE": "orders", "STAGE": "prod"}  # ${opt:stage, 'dev'} with --stage prod
    assert create.secrets["API_TOKEN"] == {"aws": "ssm:/shop/api-token", "local": "env:API_TOKEN",
                                           "docker": "env:API_TOKEN"}

    legacy = spec.functions["legacy"]
    http = legacy.triggers[0].http
    assert http is not None and http.path == "/legacy/{proxy+}" and http.auth == "key"  # greedy stays greedy
    assert len(http.methods) == 7 and legacy.http_payload == "1.0"  # ANY, REST payload
    nightly = spec.functions["nightly"].triggers
    assert nightly[0].schedule and nightly[0].schedule.rate == "2h"
    assert nightly[1].schedule and nightly[1].schedule.cron == "0 3 * * MON-FRI"
    worker = spec.functions["worker"].triggers
    assert [(t.queue.name, t.queue.batch_size) for t in worker if t.queue] == [("orders-queue", 5), ("OrdersDLQ", 10)]
    clicks = spec.functions["clicks"].triggers
    assert len(clicks) == 1 and clicks[0].stream is not None
    assert (clicks[0].stream.name, clicks[0].stream.starting_position) == ("clickstream", "trim_horizon")
    up = spec.functions["uploads"].triggers
    assert len(up) == 1 and up[0].storage is not None
    assert (up[0].storage.bucket, up[0].storage.prefix, up[0].storage.suffix) == ("shop-uploads", "incoming/", ".csv")

    notes = {(n["where"], n["kind"]) for n in report["not_converted"]}
    for where in ("provider.iam", "functions.worker.events[1].sqs.arn", "functions.clicks.events[1].stream",
                  "functions.uploads.events[1].sns", "functions.uploads.events[2].alb", "plugins[0]",
                  "functions.legacy.events[0].http.cors"):
        assert any(w == f"serverless.yml: {where}" for w, _ in notes), where
    written = (tmp_path / "multicloud.yaml").read_text()
    assert "# Not converted or different (review these):" in written and "DynamoDB stream" in written


def test_text_output_groups_notes(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["import", str(copy_fixture(tmp_path))])
    assert res.exit_code == 0, res.output
    assert "wrote" in res.output and "not converted or different (review) (" in res.output
    assert "carried over differently (" in res.output


def test_import_refuses_to_overwrite_and_to_write_elsewhere(tmp_path: Path) -> None:
    src = copy_fixture(tmp_path)
    (tmp_path / "multicloud.yaml").write_text("keep me")
    res = CliRunner().invoke(app, ["import", str(src)])
    assert res.exit_code == 2 and "--force" in res.output
    assert (tmp_path / "multicloud.yaml").read_text() == "keep me"
    assert CliRunner().invoke(app, ["import", str(src), "--force"]).exit_code == 0
    other = tmp_path / "elsewhere"
    other.mkdir()
    res = CliRunner().invoke(app, ["import", str(src), "--out", str(other / "m.yaml"), "--force"])
    assert res.exit_code == 2 and "not beside the service" in res.output


def test_import_of_a_folder_and_generated_requirements(tmp_path: Path) -> None:
    (tmp_path / "serverless.yml").write_text(
        "service: s\nprovider: {name: aws, runtime: python3.11}\nfunctions: {a: {handler: h.main}}\n")
    (tmp_path / "h.py").write_text("import boto3\n\ndef main(event, context):\n    return {}\n")
    res = CliRunner().invoke(app, ["-o", "json", "import", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["files"] == [str(tmp_path / "requirements.multicloud.txt")]
    assert "boto3" in (tmp_path / "requirements.multicloud.txt").read_text()
    assert Project.load(tmp_path).spec.requirements == "requirements.multicloud.txt"


def test_bad_inputs_exit_2_with_the_file_named(tmp_path: Path) -> None:
    cases = {
        "node.yml": "service: x\nprovider: {name: aws, runtime: nodejs20.x}\nfunctions: {a: {handler: a.b}}\n",
        "azure.yml": "service: x\nprovider: {name: azure}\nfunctions: {a: {handler: a.b}}\n",
        "broken.yml": "service: [x\n",
        "list.yml": "- a\n",
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        res = CliRunner().invoke(app, ["import", str(tmp_path / name), "--out", str(tmp_path / f"{name}.yaml")])
        assert res.exit_code == 2, (name, res.output)
        assert name in res.output and "Traceback" not in res.output
    (tmp_path / "serverless.ts").write_text("export default {}")
    res = CliRunner().invoke(app, ["import", str(tmp_path / "serverless.ts")])
    assert res.exit_code == 2 and "serverless print" in res.output
    res = CliRunner().invoke(app, ["import", str(tmp_path / "missing.yml")])
    assert res.exit_code == 2 and "not found" in res.output
