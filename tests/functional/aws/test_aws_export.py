"""The SAM export validated by cfn-lint (offline, SAM included) and expanded by aws-sam-translator."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from aws_functional_support import write

from multicloud.errors import UnsupportedError
from multicloud.project import Project
from multicloud.providers.aws import AwsProvider


class NoManagedPolicies:
    """aws-sam-translator asks IAM for managed policy ARNs only when a template names one by name."""

    def load(self) -> dict[str, str]:
        return {}


def _export(root: Path, out: Path) -> dict:
    paths = AwsProvider(Project.load(root)).export("sam", out)
    assert paths[0].name == "template.yaml" and (out / "package.zip").is_file()
    return yaml.safe_load(paths[0].read_text())


def _lint(path: Path) -> list[str]:
    from cfnlint.api import ManualArgs, lint_file

    return [str(m) for m in lint_file(path, config=ManualArgs(regions=["us-east-1"]))]


def _transform(doc: dict) -> dict:
    """What CloudFormation does after `sam package` uploaded the zip and rewrote CodeUri to S3."""
    import copy

    from samtranslator.translator.transform import transform

    packaged = copy.deepcopy(doc)
    for res in packaged["Resources"].values():
        if res["Type"] == "AWS::Serverless::Function":
            assert res["Properties"]["CodeUri"] == "package.zip"
            res["Properties"]["CodeUri"] = "s3://artifacts/shop/package.zip"
    return transform(packaged, {}, NoManagedPolicies())  # type: ignore[arg-type]


@pytest.mark.parametrize("http", ["function_url", "http_api"])
def test_sam_template_lints_and_transforms(tmp_path: Path, http: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # the translator fills AWS::Region from boto3
    root = write(tmp_path / "svc", http=http)
    doc = _export(root, tmp_path / "out")
    assert _lint(tmp_path / "out" / "template.yaml") == []
    expanded = _transform(doc)
    types = {}
    for res in expanded["Resources"].values():
        types[res["Type"]] = types.get(res["Type"], 0) + 1
    assert types["AWS::Lambda::Function"] == 1 and types["AWS::Lambda::Alias"] == 1
    assert types["AWS::Lambda::EventSourceMapping"] == 2 and types["AWS::Scheduler::Schedule"] == 2
    if http == "function_url":
        assert types["AWS::Lambda::Url"] == 1
    else:
        assert types["AWS::ApiGatewayV2::Api"] == 1
    fn = next(r for r in expanded["Resources"].values() if r["Type"] == "AWS::Lambda::Function")["Properties"]
    assert fn["Handler"] == "_multicloud_entry.hello" and fn["FunctionName"] == "shop-prod-hello"
    env = fn["Environment"]["Variables"]
    assert env["MULTICLOUD_SECRETS"] == '{"API_KEY": "ssm:/shop/api-key", "DB_PASSWORD": "secretsmanager:shop/db"}'
    for mapping in (r for r in expanded["Resources"].values() if r["Type"] == "AWS::Lambda::EventSourceMapping"):
        assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["Properties"]["FunctionName"] == {"Ref": "HelloFunctionAliaslive"}
    crons = [r["Properties"]["ScheduleExpression"] for r in expanded["Resources"].values()
             if r["Type"] == "AWS::Scheduler::Schedule"]
    assert sorted(crons) == ["cron(30 6 ? * 1 *)", "rate(1 hour)"]
    assert doc["Metadata"]["multicloud"]["S3Notifications"][0]["Bucket"] == "uploads"


def test_unknown_format_is_unsupported(tmp_path: Path) -> None:
    root = write(tmp_path / "svc")
    with pytest.raises(UnsupportedError) as err:
        AwsProvider(Project.load(root)).export("terraform", tmp_path / "out")
    assert err.value.exit_code == 3 and "sam" in (err.value.fix or "")
