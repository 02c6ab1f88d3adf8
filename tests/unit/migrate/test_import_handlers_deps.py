"""Handler paths and styles, unconvertible functions, and dependencies carried over."""

from __future__ import annotations

from pathlib import Path

from migrate_helpers import notes_text

from multicloud.migrate.deps import _poetry_constraint
from multicloud.migrate.handlers import module_path

HEAD = """\
service: shop
provider:
  name: aws
  runtime: python3.11
"""
HANDLER = "def main(event, context):\n    return {}\n"


def test_handler_paths_in_every_serverless_form() -> None:
    assert module_path("handler.main") == ("handler", "main")
    assert module_path("src/handlers/orders.create") == ("src.handlers.orders", "create")
    assert module_path("./todos/get.get") == ("todos.get", "get")
    assert module_path("api.handlers.main") == ("api.handlers", "main")
    assert module_path("handler.hello", "module1") == ("module1.handler", "hello")
    assert module_path("handler.hello", "app/compute/") == ("app.compute.handler", "hello")
    assert module_path("on-object-created.handler", "src/handlers/s3") == (
        "src.handlers.s3.on-object-created", "handler")
    assert module_path("nodot")[0] is None and module_path("2fast/h.main")[0] is None


def test_styles_aws_asgi_wsgi_and_module_functions(convert) -> None:
    conv = convert(HEAD + """\
functions:
  plain: {handler: src/handlers/orders.create, events: [{httpApi: GET /orders}]}
  fast: {handler: api/asgi.handler, events: [{httpApi: '*'}]}
  flask: {handler: web.handler, events: [{http: GET /web}]}
  mod: {handler: handler1.hello, module: module1}
""", files={
        "src/handlers/orders.py": "def create(event, context):\n    return {'statusCode': 201}\n",
        "api/asgi.py": "from mangum import Mangum\nfrom api.main import app\nhandler = Mangum(app, lifespan='off', "
                       "api_gateway_base_path='/v1')\n",
        "api/main.py": "app = object()\n",
        "web.py": "from apig_wsgi import make_lambda_handler\nfrom flask import Flask\napp = Flask(__name__)\n"
                  "handler = make_lambda_handler(app)\n",
        "module1/handler1.py": "import helpers\ndef hello(event, context):\n    return helpers.x\n",
        "module1/helpers.py": "x = 1\n",
    })
    fns = conv.spec["functions"]
    assert (fns["plain"]["handler"], fns["plain"]["style"]) == ("src.handlers.orders.create", "aws")
    assert (fns["fast"]["handler"], fns["fast"]["style"]) == ("api.asgi.app", "asgi")
    assert (fns["flask"]["handler"], fns["flask"]["style"]) == ("web.app", "wsgi")
    assert (fns["mod"]["handler"], fns["mod"]["style"]) == ("module1.handler1.hello", "aws")
    text = notes_text(conv)
    assert "functions.fast.handler: the Lambda adapter `handler` wraps the ASGI app `app`" in text
    assert "adapter options api_gateway_base_path are not carried over" in text
    assert "functions.mod.handler: the handler imports helpers as top-level module(s)" in text


def test_unconvertible_functions_are_listed_and_the_rest_converts(convert) -> None:
    conv = convert(HEAD + """\
functions:
  ok: {handler: handler.main}
  node: {handler: index.handler, runtime: nodejs20.x}
  image: {image: {name: appimage}}
  missing: {handler: nowhere.main}
  typo: {handler: handler.mian}
  nohandler: {memorySize: 128}
  notamap: 5
""")
    assert list(conv.spec["functions"]) == ["ok"]
    text = notes_text(conv)
    for expected in ("functions.node.runtime: a nodejs20.x function: not converted",
                     "functions.image: a container-image function: not converted",
                     "functions.missing.handler: not converted: its handler file nowhere.py is not in the service",
                     "functions.typo: left out: multicloud refuses it (handler.py defines no function 'mian')",
                     "functions.nohandler.handler: not converted: it has no handler",
                     "functions.notamap: not a function definition"):
        assert expected in text, expected


def test_non_python_provider_runtime_with_one_python_function(convert) -> None:
    conv = convert("""\
service: mixed
provider: {name: aws, runtime: nodejs18.x}
functions:
  js: {handler: index.handler}
  py: {handler: web/handler.hello, runtime: python3.9}
""", files={"web/handler.py": "def hello(event, context):\n    return {}\n"})
    assert list(conv.spec["functions"]) == ["py"] and conv.spec["runtime"] == "python3.10"
    assert "functions.js: a nodejs18.x function (provider.runtime): not converted" in notes_text(conv)


def test_nothing_convertible_is_a_clean_error(service, tmp_path: Path) -> None:
    from multicloud.errors import SpecError
    from multicloud.migrate import convert_file

    folder = service("service: x\nprovider: {name: aws, runtime: nodejs20.x}\nfunctions: {a: {handler: a.b}}\n")
    try:
        convert_file(folder / "serverless.yml", environ={})
    except SpecError as exc:
        assert exc.exit_code == 2 and "no function of this service could be converted" in exc.what
        assert "nodejs20.x" in exc.what
    else:
        raise AssertionError("expected a SpecError")


def test_requirements_beside_the_file_and_in_modules(convert) -> None:
    conv = convert(HEAD + """\
functions:
  a: {handler: handler.main}
  b: {handler: h.main, module: mod}
plugins: [serverless-python-requirements]
custom: {pythonRequirements: {dockerizePip: true, slim: true}}
""", files={"handler.py": HANDLER, "mod/h.py": HANDLER, "requirements.txt": "requests==2.31.0\n",
            "mod/requirements.txt": "-r ../common.txt\nPyYAML\n", "common.txt": "boto3\n"})
    assert conv.spec["requirements"] == "requirements.multicloud.txt"
    assert conv.files["requirements.multicloud.txt"].splitlines()[1:] == ["-r requirements.txt",
                                                                          "-r mod/requirements.txt"]
    assert "custom.pythonRequirements: packaging options with no equivalent: dockerizePip, slim" in notes_text(conv)


def test_one_requirements_file_is_used_as_it_is(convert) -> None:
    conv = convert(HEAD + "functions:\n  a: {handler: handler.main}\n",
                   files={"handler.py": HANDLER, "requirements.txt": "flask\n"})
    assert conv.spec["requirements"] == "requirements.txt" and conv.files == {}


def test_lambda_provided_boto3_is_added_for_the_other_targets(convert) -> None:
    conv = convert(HEAD + "functions:\n  a: {handler: handler.main}\n",
                   files={"handler.py": "import boto3\nfrom dateutil import parser\n" + HANDLER,
                          "requirements.txt": "requests\n"})
    assert conv.files["requirements.multicloud.txt"].splitlines()[1:] == [
        "-r requirements.txt", "boto3  # provided by Lambda's runtime; the other targets install it"]
    assert "the code imports boto3, which Lambda's runtime provides" in notes_text(conv)


def test_pipfile_lock_pins_and_poetry_constraints(convert, tmp_path: Path) -> None:
    conv = convert(HEAD + "functions:\n  a: {handler: handler.main}\n", files={
        "handler.py": HANDLER,
        "Pipfile": '[packages]\nflask = "*"\n',
        "Pipfile.lock": '{"default": {"flask": {"version": "==3.0.0"}, "six": {"version": "==1.16.0", '
                        '"markers": "python_version >= \'2.7\'"}, "mine": {"path": "."}}}'})
    assert conv.files["requirements.multicloud.txt"].splitlines()[1:] == [
        "flask==3.0.0", "six==1.16.0; python_version >= '2.7'"]
    assert "Pipfile.lock.default.mine: not converted" in notes_text(conv)
    for name in ("Pipfile", "Pipfile.lock"):
        (tmp_path / name).unlink()
    (tmp_path / "pyproject.toml").write_text(
        '[tool.poetry.dependencies]\npython = "^3.11"\nrequests = "^2.31"\nfastapi = {version = "~0.110", '
        'extras = ["all"]}\nlocal = {path = "../lib"}\nodd = "1.0 || 2.0"\n')
    from multicloud.migrate import convert_file

    conv = convert_file(tmp_path / "serverless.yml", environ={})
    assert conv.files["requirements.multicloud.txt"].splitlines()[1:] == [
        "requests>=2.31,<3", "fastapi[all]>=0.110,<0.111"]
    text = notes_text(conv)
    assert "pyproject.toml.local: not converted: a git, path or URL dependency" in text
    assert "pyproject.toml.odd: not converted: constraint '1.0 || 2.0'" in text


def test_poetry_constraints() -> None:
    assert _poetry_constraint("^1.2.3") == ">=1.2.3,<2"
    assert _poetry_constraint("^0.2.3") == ">=0.2.3,<0.3"
    assert _poetry_constraint("~1.2.3") == ">=1.2.3,<1.3"
    assert _poetry_constraint("2.0") == "==2.0"
    assert _poetry_constraint(">=1,<2") == ">=1,<2"
    assert _poetry_constraint("*") == ""
    assert _poetry_constraint("1 || 2") is None
