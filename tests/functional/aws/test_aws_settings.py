"""`targets: aws:` settings are checked with located errors, like the rest of the spec."""

from __future__ import annotations

import pytest

from multicloud.errors import SpecErrors
from multicloud.spec.loader import parse_spec

BASE = "service: shop\nfunctions: {hello: {handler: app.hello}}\ntargets:\n  aws: {SETTINGS}\n"


@pytest.mark.parametrize(("settings", "field", "words"), [
    ('{tags: {"aws:owner": me}}', "targets.aws.tags", "reserved"),
    ('{tags: {"multicloud:service": other}}', "targets.aws.tags", "reserved"),
    ("{region: Europe}", "targets.aws.region", "pattern"),
    ("{artifact_bucket: My_Bucket}", "targets.aws.artifact_bucket", "pattern"),
    ("{architecture: arm}", "targets.aws.architecture", "arm64"),
    ("{htp: http_api}", "targets.aws.htp", "did you mean 'http'"),
])
def test_bad_aws_settings_are_located_spec_errors(settings: str, field: str, words: str) -> None:
    with pytest.raises(SpecErrors) as err:
        parse_spec(BASE.replace("{SETTINGS}", settings))
    (first,) = err.value.errors
    assert first.where is not None and getattr(first.where, "field", None) == field
    assert getattr(first.where, "line", None) == 4
    assert words in first.message


def test_good_aws_settings() -> None:
    spec = parse_spec(BASE.replace("{SETTINGS}", "{region: eu-west-1, architecture: arm64, http: http_api, "
                                                 "stage: prod, artifact_bucket: my.artifacts-1, tags: {team: core}}"))
    aws = spec.targets.aws
    assert aws is not None and aws.region == "eu-west-1" and aws.tags == {"team": "core"}
