"""No input makes the importer crash: it converts, or it refuses with a located SpecError (exit 2).

Hypothesis builds service files from Serverless's own vocabulary (so they reach deep into the converter),
with CloudFormation short tags (`!Ref`, `!GetAtt`, `!Sub`, `!Join`, which `yaml.safe_load` rejects),
variables (nested, malformed, self-referencing), wrong types everywhere, plus raw text. Hand-made hostile
files cover what random generation rarely hits: alias bombs, recursive anchors, deep nesting, huge files.
Whatever converts must validate as a multicloud spec.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from multicloud.cli.app import app
from multicloud.errors import SpecError
from multicloud.migrate import convert_file
from multicloud.spec.loader import parse_spec

KEYS = ["service", "provider", "name", "runtime", "functions", "handler", "events", "http", "httpApi", "sqs",
        "stream", "s3", "schedule", "sns", "arn", "path", "method", "environment", "resources", "Resources", "Type",
        "Properties", "QueueName", "custom", "plugins", "module", "url", "image", "memorySize", "timeout", "stage",
        "region", "rate", "bucket", "rules", "prefix", "batchSize", "startingPosition", "type", "wsgi", "app",
        "params", "default", "useDotenv", "constructs", "worker", "tags", "cors", "authorizer", "private",
        "integration", "enabled", "input", "pythonRequirements", "fileName", "layers", "vpc", "iam", "url"]
WORDS = ["aws", "python3.11", "python2.7", "nodejs20.x", "handler.main", "src/handler.main", "nope.fn", "*",
         "GET /x", "ANY {proxy+}", "rate(5 minutes)", "cron(0 12 ? * 2 *)", "cron(bad)", "arn:aws:sqs:r:1:q",
         "arn:aws:kinesis:r:1:stream/s", "AWS::SQS::Queue", "AWS::Kinesis::Stream", "serverless-wsgi", "wsgi.handler",
         "${self:custom.x}", "${opt:stage, 'dev'}", "${env:HOME}", "${env:NOPE, 1}", "${ssm:/a/b}", "${sls:stage}",
         "${file(./x.yml):a}", "${file(../../etc/passwd)}", "${self:}", "${self:provider.stage}", "${", "}", "${}",
         "${self:custom.${self:custom.y}}", "${aws:accountId}", "${cf:s.o}", "${param:p}", "${construct:q.url}",
         "${strToBool(x)}", "http://x", "", " ", "/", "{a}", "{a+}", "a b", "\x00", "ü", "1e309"]
TAGS = ["Ref", "GetAtt", "Sub", "Join", "ImportValue", "If", "Select", "Split", "Base64", "FindInMap", "Weird"]


class Tagged:
    def __init__(self, tag: str, value: Any) -> None:
        self.tag, self.value = tag, value


class _Dumper(yaml.SafeDumper):
    pass


def _tagged(dumper: yaml.SafeDumper, data: Tagged) -> yaml.Node:
    if isinstance(data.value, list):
        return dumper.represent_sequence("!" + data.tag, data.value)
    if isinstance(data.value, dict):
        return dumper.represent_mapping("!" + data.tag, data.value)
    return dumper.represent_scalar("!" + data.tag, str(data.value))


_Dumper.add_representer(Tagged, _tagged)

scalars = st.one_of(st.sampled_from(WORDS), st.integers(-5, 100000), st.booleans(), st.none(),
                    st.floats(allow_nan=True), st.text(max_size=12))
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=6), st.integers(0, 3)), children,
                        max_size=5),
        st.builds(Tagged, st.sampled_from(TAGS), st.one_of(scalars, st.lists(scalars, max_size=3))),
    ),
    max_leaves=30,
)
events = st.lists(st.one_of(
    st.dictionaries(st.sampled_from(["http", "httpApi", "sqs", "stream", "s3", "schedule", "sns", "alb"]),
                    st.one_of(st.sampled_from(WORDS), st.dictionaries(st.sampled_from(KEYS), values, max_size=4)),
                    min_size=1, max_size=1),
    values), max_size=4)
functions = st.fixed_dictionaries(
    {"handler": st.sampled_from(["handler.main", "src/h.main", "wsgi_handler.handler", "app.handler"])},
    optional={"events": events, "environment": values, "module": values, "url": values, "runtime": values,
              "memorySize": values, "timeout": values, "image": values, "layers": values})
services = st.fixed_dictionaries(
    {"service": st.one_of(st.sampled_from(["shop", "My Shop!", "${env:SVC}", ""]), values)},
    optional={"provider": st.one_of(st.fixed_dictionaries({"name": st.just("aws")}, optional={
        "runtime": st.sampled_from(["python3.11", "python3.8", "nodejs18.x"]), "environment": values,
        "stage": values, "region": values, "httpApi": values, "iam": values}), values),
        "functions": st.one_of(st.dictionaries(st.sampled_from(["api", "Api", "a-b", "1x", "w"]),
                                               st.one_of(functions, functions, functions, values), max_size=4),
                               values),
        "resources": values, "custom": values, "plugins": values, "params": values, "constructs": values},
)

FILES = {"handler.py": "def main(event, context):\n    return {}\n",
         "src/h.py": "def main(event, context):\n    return {}\n",
         "app.py": "from mangum import Mangum\napp = object()\nhandler = Mangum(app)\n",
         "x.yml": "a: ${self:custom.x}\n"}


def _folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz")
    for name, text in FILES.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def check(folder: Path, text: str) -> None:
    source = folder / "serverless.yml"
    source.write_text(text)
    try:
        conversion = convert_file(source, environ={"HOME": "/root"})
    except SpecError as exc:
        assert exc.exit_code == 2 and exc.what
        return
    parse_spec(conversion.to_yaml(), str(folder / "multicloud.yaml"))  # whatever converts is valid


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(service=services)
def test_generated_services_convert_or_fail_cleanly(service: dict[str, Any],
                                                    tmp_path_factory: pytest.TempPathFactory) -> None:
    text = yaml.dump(service, Dumper=_Dumper, allow_unicode=True)
    check(_folder(tmp_path_factory), text)


CORPUS = Path(__file__).resolve().parents[2] / "corpus" / "serverless"
_COPIES: dict[str, Path] = {}


def _corpus_copy(name: str) -> Path:
    """A private copy of one corpus service (its serverless.yml is rewritten by each example)."""
    if name not in _COPIES:
        import shutil
        import tempfile

        _COPIES[name] = Path(tempfile.mkdtemp(prefix="fuzz-corpus-")) / name
        shutil.copytree(CORPUS / name, _COPIES[name])
    return _COPIES[name]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _paths(item, (*prefix, index))
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(p.name for p in CORPUS.iterdir() if p.is_dir())), data=st.data())
def test_mutated_real_services_convert_or_fail_cleanly(name: str, data: st.DataObject) -> None:
    """A real service with one subtree replaced by anything: reaches every corner of the converter."""
    from multicloud.migrate.source import read_yaml_file

    folder = _corpus_copy(name)
    doc = read_yaml_file(CORPUS / name / "serverless.yml", name)
    path = data.draw(st.sampled_from(_paths(doc)[1:]))
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = data.draw(values)
    check(folder, yaml.dump(doc, Dumper=_Dumper, allow_unicode=True))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=300))
def test_arbitrary_text_never_crashes(text: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    check(_folder(tmp_path_factory), text)


HOSTILE = {
    "billion laughs": "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True))
    + "service: s\nprovider: {name: aws}\nfunctions: {api: {handler: handler.main, environment: *i}}\n",
    "recursive anchor": "service: s\nprovider: &p {name: aws, self: *p}\nfunctions: {api: {handler: handler.main}}\n",
    "recursive list": "service: s\nx: &l [*l]\nfunctions: {api: {handler: handler.main}}\n",
    "deep nesting": "service: s\nfunctions: " + "[" * 5000 + "]" * 5000 + "\n",
    "deep mapping": "service: s\ncustom: " + "{a: " * 300 + "1" + "}" * 300 + "\n",
    "variable loop": "service: s\ncustom: {a: '${self:custom.b}', b: '${self:custom.a}'}\nprovider: {name: aws, "
                     "environment: {A: '${self:custom.a}'}}\nfunctions: {api: {handler: handler.main}}\n",
    "variable chain": "service: s\ncustom:\n" + "".join(f"  v{i}: ${{self:custom.v{i + 1}}}\n" for i in range(400))
                      + "  v400: end\nfunctions: {api: {handler: handler.main}}\n",
    "file includes itself": "service: s\ncustom: {x: '${file(./serverless.yml):custom}'}\nfunctions: {api: "
                            "{handler: handler.main}}\n",
    "unhashable key": "service: s\n? [a, b]\n: c\n",
    "python tag": "service: !!python/object/apply:os.system ['echo hi']\n",
    "two documents": "service: a\n---\nservice: b\n",
    "not a mapping": "- just\n- a list\n",
    "empty": "",
    "binary and dates": "service: s\ncustom: {b: !!binary aGk=, d: 2024-01-01, t: 2024-01-01T10:00:00Z}\n"
                        "provider: {name: aws, environment: {D: 2024-01-01}}\n"
                        "functions: {api: {handler: handler.main}}",
    "other provider": "service: s\nprovider: {name: google}\nfunctions: {api: {handler: handler.main}}\n",
    "huge": "service: s\ncustom:\n" + "".join(f"  k{i}: {'x' * 100}\n" for i in range(50000)),
    "tags everywhere": "service: !Ref s\nprovider: !GetAtt a.b\nfunctions: !Sub x\n",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_files_fail_cleanly_or_convert(name: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    check(_folder(tmp_path_factory), HOSTILE[name])


@pytest.mark.parametrize("name", ["billion laughs", "recursive anchor", "deep nesting", "python tag", "huge"])
def test_cli_exit_code_is_2_without_traceback(name: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = _folder(tmp_path_factory)
    (folder / "serverless.yml").write_text(HOSTILE[name])
    res = CliRunner().invoke(app, ["import", str(folder / "serverless.yml")])
    if res.exit_code == 0:  # converted: the service had a valid function after all
        assert (folder / "multicloud.yaml").is_file()
        return
    assert res.exit_code == 2, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    assert "Traceback" not in res.output and "serverless.yml" in res.output
