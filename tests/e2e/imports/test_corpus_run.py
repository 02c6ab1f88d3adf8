"""Every corpus service builds for aws and local, and every HTTP function answers the same on both.

Per service (one module-scoped build, shared by the tests below): import, then `build` for aws (the Lambda
zip: code, vendored runtime, entry module and the dependencies installed for Lambda's platform) and for
local (dependencies for this machine). Both builds install from the corpus wheelhouse only (PIP_NO_INDEX,
PIP_FIND_LINKS: see conftest.py), never from an index.

The upstream serverless.yml files name Python 3.7 to 3.9 (the importer raises those to 3.10); the tests
build and run every service for the Python running them instead, so that they need no other interpreter on
the machine: what is compared is the handlers' semantics under each entry, not the interpreter. The builds
keep the architecture the service asks for (arm64 services are built for arm64 and checked), and an arm64
zip is built a second time for x86_64 to be run here.

Then, for the services whose SOURCE lists requests, each request goes

* to the original handler on Lambda: the zip is unpacked and the handler string Serverless deployed is run
  by AWS's runtime interface client `awslambdaric` (the serverless-wsgi handler for serverless-wsgi
  functions), fed the API Gateway event the route would produce on AWS (aws-sam-cli's sample event with this
  request's method, path, parameters, headers and body: HTTP API 2.0 for httpApi/url routes, REST 1.0 for
  http routes); the result is turned into the HTTP answer API Gateway would give;
* to multicloud's Lambda entry (`_multicloud_entry.<function>`), the same way;
* to the local target: deployed for real (supervisor and runtime on 127.0.0.1), called over HTTP;

and the status and body must match each other and the status the SOURCE says the handler gives. Stand-ins:
a moto server for DynamoDB and SQS (AWS_ENDPOINT_URL), environment variables listed in SOURCE.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from corpus import (
    Answer,
    Request,
    Service,
    comparable,
    lambda_event,
    payload_of,
    reset_moto,
    resolved,
    services,
    tables,
)
from lambda_runtime import InvocationError, LambdaProcess
from test_corpus_import import import_service

from multicloud.project import Project
from multicloud.provider import BuildResult
from multicloud.providers.aws import AwsProvider
from multicloud.providers.aws.names import Names
from multicloud.providers.local import LocalProvider
from multicloud.state import build_dir

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("wheelhouse")]
SERVICES = services()
HTTP_SERVICES = [pytest.param(s, id=s.name, marks=[pytest.mark.moto] if s.meta.get("moto") else [])
                 for s in SERVICES if s.requests]
HOST_RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"


def quiet(_message: str) -> None:
    pass


@dataclass
class Built:
    service: Service
    folder: Path
    project: Project
    aws: BuildResult
    moto: str  # the moto server's URL, "" when the service needs none


@dataclass
class OnLambda:
    reference: list[Answer]  # the original handler under awslambdaric
    shim: list[Answer]  # multicloud's Lambda entry under awslambdaric


def _edit_spec(folder: Path, service: Service, moto: str) -> None:
    """Build for the running Python (see the module docstring), and point SOURCE `spec_env` settings (function
    settings the handler reads) at the stand-ins."""
    path = folder / "multicloud.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["runtime"] = HOST_RUNTIME
    overrides = {k: str(v).replace("{moto}", moto) for k, v in (service.meta.get("spec_env") or {}).items()}
    for fn in spec["functions"].values():
        for key in set(overrides) & set(fn.get("env", {})):
            fn["env"][key] = overrides[key]
    path.write_text(yaml.safe_dump(spec, sort_keys=False))


@pytest.fixture(scope="module")
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Built:
    """One service (the test's parameter) imported and built for aws and local, once per module."""
    service: Service = request.param
    moto = request.getfixturevalue("moto_server") if service.meta.get("moto") else ""
    folder, _ = import_service(service, tmp_path_factory.mktemp("corpus"))
    _edit_spec(folder, service, moto)
    project = Project.load(folder)
    aws = AwsProvider(project).build(build_dir(project, "aws"), quiet)
    LocalProvider(project).build(build_dir(project, "local"), quiet)
    return Built(service, folder, project, aws, moto)


@pytest.mark.parametrize("built", SERVICES, ids=lambda s: s.name, indirect=True)
def test_builds_for_aws_and_local(built: Built) -> None:
    project = built.project
    assert project.spec.runtime == HOST_RUNTIME
    with zipfile.ZipFile(built.aws.artifacts[0].path) as zf:
        names = set(zf.namelist())
    assert "_multicloud_entry.py" in names and "multicloud/runtime/aws.py" in names
    for fn in project.functions_for("aws"):
        module = fn.handler.rsplit(".", 1)[0].replace(".", "/")
        assert f"{module}.py" in names or f"{module}/__init__.py" in names, fn.handler
    requirements = project.spec.requirements
    if requirements and (built.folder / requirements).read_text().strip():
        assert any(".dist-info/" in n for n in names), "the dependencies are in the zip"
    local = build_dir(project, "local")
    config = json.loads((local / "runtime.json").read_text())
    assert set(config["functions"]) == set(project.spec.functions)


# ---- HTTP: the Lambda shim and the local target answer alike ------------------------------------------------
def _stand_ins(built: Built) -> dict[str, str]:
    env = dict(built.service.env)
    if built.moto:
        env.update(AWS_ENDPOINT_URL=built.moto, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                   AWS_DEFAULT_REGION="us-east-1", AWS_REGION="us-east-1")
    return env


def _prepare_moto(built: Built) -> None:
    """A fresh moto: the service's tables, seed items and queues (before each run, so every run starts alike)."""
    if not built.moto:
        return
    import boto3

    reset_moto(built.moto)
    kw: dict[str, Any] = {"endpoint_url": built.moto, "region_name": "us-east-1", "aws_access_key_id": "testing",
                          "aws_secret_access_key": "testing"}
    dynamodb, sqs = boto3.client("dynamodb", **kw), boto3.client("sqs", **kw)
    for table in tables(resolved(built.folder)):
        dynamodb.create_table(**table)
    for item in built.service.meta.get("seed") or []:
        dynamodb.put_item(TableName=item["table"], Item=item["item"])
    for name in built.service.meta.get("queues") or []:
        sqs.create_queue(QueueName=name)


def _runnable_task(built: Built, tmp: Path) -> Path:
    """The zip as built, unpacked; an arm64 zip is built again for x86_64 (this machine) to be run."""
    project, aws = built.project, built.project.settings("aws")
    artifact = built.aws
    if getattr(aws, "architecture", "x86_64") != "x86_64":
        spec = project.spec.model_copy(update={"targets": project.spec.targets.model_copy(
            update={"aws": aws.model_copy(update={"architecture": "x86_64"})})})
        artifact = AwsProvider(Project(spec, project.spec_path)).build(tmp / "runnable-build", quiet)
    task = tmp / "task"
    with zipfile.ZipFile(artifact.artifacts[0].path) as zf:
        zf.extractall(task)
    return task


WSGI_REFERENCE = """\
import importlib

import serverless_wsgi

app = getattr(importlib.import_module({module!r}), {attr!r})


def handler(event, context):
    return serverless_wsgi.handle_request(app, event, context)
"""


def _reference(doc: dict[str, Any], function: str, task: Path, adapter: Path,
               tmp: Path) -> tuple[Path, str, tuple[Path, ...]]:
    """How Lambda ran the function under Serverless: task root, handler string, more folders on the path.

    A `module:` folder was the package root; a serverless-wsgi function ran the plugin's handler, which hands
    the event to `serverless_wsgi.handle_request` with the app named in custom.wsgi.app."""
    fn = doc["functions"][function]
    handler, module = str(fn["handler"]), fn.get("module")
    plugins = doc.get("plugins") or []
    if "serverless-wsgi" in plugins and handler in ("wsgi_handler.handler", "wsgi.handler"):
        app = str(doc["custom"]["wsgi"]["app"])
        folder, _, dotted = app.rpartition("/")
        mod, _, attr = dotted.rpartition(".")
        ref = tmp / "wsgi-reference"
        ref.mkdir(exist_ok=True)
        (ref / "_serverless_wsgi_handler.py").write_text(WSGI_REFERENCE.format(module=mod, attr=attr))
        return task, "_serverless_wsgi_handler.handler", (*((task / folder,) if folder else ()), ref, adapter)
    if module:
        return task / str(module), handler, (task,)  # the package's dependencies sit beside it, at the root
    return task, handler, ()


@pytest.fixture(scope="module")
def on_lambda(built: Built, ric: Path, wsgi_adapter: Path, tmp_path_factory: pytest.TempPathFactory) -> OnLambda:
    """Every request of the service, to the original handler and to multicloud's entry, both under awslambdaric
    (one client process per function and kind, serving all of its requests)."""
    service, project = built.service, built.project
    tmp = tmp_path_factory.mktemp("lambda")
    task = _runnable_task(built, tmp)
    env = _stand_ins(built)
    _prepare_moto(built)
    doc = resolved(service.folder)
    by_function = {fn.name: fn for fn in project.functions_for("aws")}
    stage = project.settings("aws").stage  # type: ignore[attr-defined]
    processes: dict[tuple[str, str], LambdaProcess] = {}
    out = OnLambda([], [])
    try:
        for request in service.requests:
            fn = by_function[request.key]
            event = lambda_event(payload_of(doc, request.function), request,
                                 [t.http.path for t in fn.triggers if t.http], "us-east-1")
            ref_root, original, paths = _reference(doc, request.function, task, wsgi_adapter, tmp)
            runs = (("reference", ref_root, original, paths, out.reference),
                    ("shim", task, Names(project.name, stage, fn.name).handler, (), out.shim))
            for kind, root, handler, extra, answers in runs:
                if (kind, fn.name) not in processes:
                    processes[(kind, fn.name)] = LambdaProcess(root, handler, ric, {**fn.env, **env}, extra)
                try:
                    result = processes[(kind, fn.name)].invoke(event)
                except InvocationError as exc:  # what API Gateway answers when the function fails
                    result = {"statusCode": 502, "body": json.dumps({"message": "Internal server error"}),
                              "error": exc.payload}
                answers.append(Answer.from_lambda(result))
    finally:
        for proc in processes.values():
            proc.close()
    return out


@pytest.mark.parametrize("built", HTTP_SERVICES, indirect=True)
def test_original_handlers_answer_on_lambda(built: Built, on_lambda: OnLambda) -> None:
    """The reference: each original Serverless handler, run by awslambdaric on the built package with the event
    AWS would send, answers the status its SOURCE says (proves the events, stand-ins and expectations)."""
    wrong = [_explain("the original handler on Lambda", r, a, a)
             for r, a in zip(built.service.requests, on_lambda.reference, strict=True) if a.status != r.status]
    assert not wrong, "\n".join(wrong)


def _local_answers(built: Built, monkeypatch: pytest.MonkeyPatch) -> list[Answer]:
    for key, value in _stand_ins(built).items():
        monkeypatch.setenv(key, value)  # the local runtime inherits the deploying shell's environment
    _prepare_moto(built)
    provider = LocalProvider(built.project)
    deployed = provider.deploy(provider.build(build_dir(built.project, "local"), quiet), quiet)
    base = deployed.endpoints[0].url.split("/", 3)
    origin = f"{base[0]}//{base[2]}"
    key = provider.key_path.read_text().strip() if provider.key_path.exists() else ""
    answers = []
    try:
        for request in built.service.requests:
            req = urllib.request.Request(origin + request.path, method=request.method,
                                         data=request.body.encode() if request.body else None,
                                         headers={**request.headers, "X-Multicloud-Key": key})
            try:
                with urllib.request.urlopen(req, timeout=60) as resp:
                    answers.append(Answer(resp.status, resp.read()))
            except urllib.error.HTTPError as err:
                answers.append(Answer(err.code, err.read()))
    finally:
        provider.remove(quiet)
    return answers


@pytest.mark.parametrize("built", HTTP_SERVICES, indirect=True)
def test_http_functions_answer_the_same_on_the_lambda_shim_and_local(
        built: Built, on_lambda: OnLambda, monkeypatch: pytest.MonkeyPatch) -> None:
    """multicloud's Lambda entry and the local target answer each request as the original handler does."""
    on_local = _local_answers(built, monkeypatch)
    problems = []
    for req, ref, lam, loc in zip(built.service.requests, on_lambda.reference, on_lambda.shim, on_local,
                                  strict=True):
        if comparable(lam, req) != comparable(ref, req):
            problems.append(_explain("multicloud's Lambda entry", req, ref, lam))
        if comparable(loc, req) != comparable(ref, req):
            problems.append(_explain("the local target", req, ref, loc))
    assert not problems, "\n".join(problems)


def _explain(where: str, request: Request, ref: Answer, got: Answer) -> str:
    return (f"{where}: {request.method} {request.path} (function {request.function}, expected {request.status}): "
            f"{got.status} {got.body[:400]!r}; the original handler on Lambda: {ref.status} {ref.body[:300]!r}")
