"""`multicloud import serverless.yml` on a realistic Serverless Framework v3 service."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from multicloud.cli.app import app
from multicloud.spec.loader import parse_spec

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "serverless" / "serverless.yml"


def test_import_converts_what_it_can_and_lists_the_rest(tmp_path: Path) -> None:
    src = tmp_path / "serverless.yml"
    shutil.copy(FIXTURE, src)
    res = CliRunner().invoke(app, ["--output", "json", "import", str(src)])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    spec = parse_spec((tmp_path / "multicloud.yaml").read_text())  # a valid spec
    assert spec.service == "shop-api" and spec.runtime == "python3.12"
    assert spec.targets.aws is not None
    assert (spec.targets.aws.region, spec.targets.aws.architecture, spec.targets.aws.stage) == (
        "eu-west-1", "arm64", "prod")

    create = spec.functions["createorder"]
    assert create.memory == 512 and create.timeout == 20
    assert [(t.http.path, t.http.methods) for t in create.triggers if t.http] == [
        ("/orders", ("POST",)), ("/orders/{id}", ("GET",))]
    assert create.env == {"TABLE": "orders"}
    assert create.secrets == {"API_TOKEN": "ssm:/shop/api-token"}  # ${ssm:...} became a reference

    legacy = spec.functions["legacy"].triggers[0].http
    assert legacy is not None and legacy.path == "/legacy/{proxy}" and legacy.auth == "key"
    nightly = spec.functions["nightly"].triggers
    assert nightly[0].schedule and nightly[0].schedule.rate == "2h"
    assert nightly[1].schedule and nightly[1].schedule.cron == "0 3 * * MON-FRI"
    worker = spec.functions["worker"]
    assert worker.memory == 1024 and len(worker.triggers) == 1
    assert worker.triggers[0].queue and (worker.triggers[0].queue.name, worker.triggers[0].queue.batch_size) == (
        "orders-queue", 5)
    clicks = spec.functions["clicks"].triggers
    assert len(clicks) == 1 and clicks[0].stream is not None
    assert (clicks[0].stream.name, clicks[0].stream.starting_position) == ("clickstream", "trim_horizon")
    up = spec.functions["uploads"].triggers
    assert len(up) == 1 and up[0].storage is not None
    assert (up[0].storage.bucket, up[0].storage.prefix, up[0].storage.suffix) == ("shop-uploads", "incoming/", ".csv")

    notes = "\n".join(report["not_converted"])
    for expected in ("STAGE", "provider.iam", "GetAtt", "DynamoDB", "'sns'", "'alb'", "resources",
                     "serverless-python-requirements", "http.cors"):
        assert expected in notes, expected
    assert "# Not converted" in (tmp_path / "multicloud.yaml").read_text()


def test_import_refuses_to_overwrite_and_non_python(tmp_path: Path) -> None:
    src = tmp_path / "serverless.yml"
    shutil.copy(FIXTURE, src)
    (tmp_path / "multicloud.yaml").write_text("keep me")
    assert CliRunner().invoke(app, ["import", str(src)]).exit_code == 2
    assert (tmp_path / "multicloud.yaml").read_text() == "keep me"
    node = tmp_path / "node.yml"
    node.write_text("service: x\nprovider: {name: aws, runtime: nodejs20.x}\nfunctions: {a: {handler: a.b}}\n")
    res = CliRunner().invoke(app, ["import", str(node), "--out", str(tmp_path / "n.yaml")])
    assert res.exit_code == 2 and "not Python" in res.output
