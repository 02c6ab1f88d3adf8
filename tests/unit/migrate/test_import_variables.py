"""Serverless variables as `multicloud import` resolves them (checked against what `serverless print` gives)."""

from __future__ import annotations

from pathlib import Path

from migrate_helpers import notes_text

from multicloud.migrate.source import parse_yaml
from multicloud.migrate.variables import Resolver

BASE = """\
service: shop
provider:
  name: aws
  runtime: python3.12
"""


def resolve(text: str, tmp_path: Path | None = None, **kwargs: object) -> tuple[dict, Resolver]:
    doc = parse_yaml(text, "serverless.yml")
    resolver = Resolver(doc, filename="serverless.yml", base_dir=tmp_path or Path("."), **kwargs)  # type: ignore[arg-type]
    return resolver.resolve(), resolver


def test_self_references_nest_and_fall_back(tmp_path: Path) -> None:
    out, res = resolve("""
service: my-svc
custom:
  defaultStage: test
  stage: ${opt:stage, self:custom.defaultStage}
  tables: {test: orders-test, prod: orders}
  table: ${self:custom.tables.${self:custom.stage}}
  label: "${self:service}-${self:custom.stage}-${self:custom.missing, 'x'}"
  count: ${self:custom.absent, 10}
  flag: ${self:custom.absent, true}
  whole: ${self:custom.tables}
provider: {name: aws}
""", tmp_path)
    custom = out["custom"]
    assert custom["table"] == "orders-test" and custom["label"] == "my-svc-test-x"
    assert custom["count"] == 10 and custom["flag"] is True
    assert custom["whole"] == {"test": "orders-test", "prod": "orders"}  # a whole mapping, not a string
    assert res.unresolved == []


def test_stage_and_region_come_from_options_then_provider_then_defaults(tmp_path: Path) -> None:
    text = """
service: s
provider:
  name: aws
  stage: ${opt:stage, 'qa'}
  region: ${opt:region, 'eu-west-1'}
custom:
  s: ${sls:stage}
  r: ${aws:region}
  o: ${opt:stage}
"""
    out, res = resolve(text, tmp_path)
    assert (out["custom"]["s"], out["custom"]["r"], out["custom"]["o"]) == ("qa", "eu-west-1", "qa")
    assert any("pass --stage" in d for d in res.defaulted)  # ${opt:stage} without fallback is reported
    out, _ = resolve(text, tmp_path, stage="prod", region="us-west-2")
    assert (out["custom"]["s"], out["custom"]["r"], out["provider"]["stage"]) == ("prod", "us-west-2", "prod")
    out, _ = resolve("service: s\nprovider: {name: aws}\ncustom: {s: '${sls:stage}', r: '${aws:region}'}\n", tmp_path)
    assert out["custom"] == {"s": "dev", "r": "us-east-1"}


def test_env_then_dotenv_then_fallback(tmp_path: Path) -> None:
    (tmp_path / ".env.dev").write_text("FROM_FILE=file-value\nQUOTED='a b'  \n# comment\nSHADOWED=file\n")
    out, res = resolve("""
service: s
useDotenv: true
provider: {name: aws}
custom:
  a: ${env:FROM_SHELL}
  b: ${env:FROM_FILE}
  c: ${env:QUOTED}
  d: ${env:SHADOWED}
  e: ${env:NOWHERE, 'dflt'}
  f: ${env:NOWHERE}
""", tmp_path, environ={"FROM_SHELL": "shell", "SHADOWED": "shell wins"})
    assert out["custom"] == {"a": "shell", "b": "file-value", "c": "a b", "d": "shell wins", "e": "dflt",
                             "f": "${env:NOWHERE}"}
    [missing] = res.unresolved
    assert missing.where == "custom.f" and "not set" in missing.reason and ".env.dev" in missing.reason


def test_file_variables_read_yaml_and_json_with_selectors(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "dev.yml").write_text("db: {host: db.dev, port: 5432}\nname: ${self:service}-db\n")
    (tmp_path / "secrets.json").write_text('{"token": {"id": "abc"}}')
    (tmp_path / "key.pem").write_text("PUBLIC KEY")
    out, res = resolve("""
service: shop
provider: {name: aws, stage: dev}
custom:
  all: ${file(./config/${sls:stage}.yml)}
  host: ${file(./config/${sls:stage}.yml):db.host}
  name: ${file(./config/dev.yml):name}
  id: ${file(secrets.json):token.id}
  pem: ${file(./key.pem)}
  gone: ${file(./nope.yml):x, 'fallback'}
  nokey: ${file(./secrets.json):token.missing}
""", tmp_path)
    custom = out["custom"]
    assert custom["all"]["db"] == {"host": "db.dev", "port": 5432}
    assert (custom["host"], custom["name"], custom["id"], custom["pem"], custom["gone"]) == (
        "db.dev", "shop-db", "abc", "PUBLIC KEY", "fallback")
    assert [u.where for u in res.unresolved] == ["custom.nokey"]
    assert "token.missing" in res.unresolved[0].reason


def test_params_per_stage_then_default(tmp_path: Path) -> None:
    text = """
service: s
params:
  prod: {domain: example.com}
  default: {domain: dev.example.com, size: 2}
provider: {name: aws}
custom: {d: '${param:domain}', s: '${param:size}'}
"""
    out, _ = resolve(text, tmp_path)
    assert out["custom"] == {"d": "dev.example.com", "s": 2}
    out, _ = resolve(text, tmp_path, stage="prod")
    assert out["custom"]["d"] == "example.com"


def test_what_cannot_be_known_stays_as_written_and_is_located(tmp_path: Path) -> None:
    out, res = resolve("""
service: s
provider:
  name: aws
  environment:
    ACCOUNT_QUEUE: arn:aws:sqs:${aws:region}:${aws:accountId}:orders
    OUT: ${cf:other-stack.Url}
    TOKEN: ${self:custom.token}
custom:
  token: ${ssm:/shop/token}
  loop: ${self:custom.loop}
  sub: !Sub "arn:aws:s3:::${AWS::Region}-${self:service}"
""", tmp_path)
    env = out["provider"]["environment"]
    assert env["ACCOUNT_QUEUE"] == "arn:aws:sqs:us-east-1:${aws:accountId}:orders"  # the rest still resolved
    assert env["TOKEN"] == "${ssm:/shop/token}"  # passes through as the SSM reference it is
    assert out["custom"]["sub"] == {"Fn::Sub": "arn:aws:s3:::${AWS::Region}-s"}  # CloudFormation's own ${...}
    where = {u.where: u for u in res.unresolved}
    assert set(where) == {"provider.environment.ACCOUNT_QUEUE", "provider.environment.OUT", "custom.token",
                          "custom.loop"}
    assert "refers to itself" in where["custom.loop"].reason
    assert "stack output" in where["provider.environment.OUT"].reason


def test_import_lists_unresolved_variables_with_file_and_key(convert) -> None:
    conv = convert(BASE + """\
  environment:
    OK: plain
    HOST: ${env:DB_HOST}
    ACCT: ${aws:accountId}
functions:
  api: {handler: handler.main}
custom:
  unused: ${cf:stack.out}
""")
    assert conv.spec["functions"]["api"]["env"] == {"OK": "plain"}  # never a literal "${...}" string
    text = notes_text(conv, "unresolved")
    assert "serverless.yml: provider.environment.HOST: ${env:DB_HOST} was not resolved: DB_HOST is not set" in text
    assert "provider.environment.ACCT: ${aws:accountId}" in text
    assert "serverless.yml: custom.unused: ${cf:stack.out} not resolved" in text


def test_ssm_in_environment_becomes_a_secret_reference(convert) -> None:
    conv = convert(BASE + """\
  environment:
    API_KEY: ${ssm:/shop/api-key}
    DB: ${ssm:/aws/reference/secretsmanager/prod/db~true}
    VIA: ${self:custom.token}
functions:
  api: {handler: handler.main}
custom:
  token: ${ssm(eu-west-1):/shop/token}
""")
    secrets = conv.spec["functions"]["api"]["secrets"]
    assert secrets["API_KEY"] == {"aws": "ssm:/shop/api-key", "local": "env:API_KEY", "docker": "env:API_KEY"}
    assert secrets["DB"]["aws"] == "secretsmanager:prod/db"
    assert secrets["VIA"]["aws"] == "ssm:/shop/token"
    assert "env" not in conv.spec["functions"]["api"]
    assert not conv.notes_of("unresolved")  # they were used, as references


def test_secret_looking_values_from_the_shell_are_not_copied_into_the_spec(convert) -> None:
    conv = convert(BASE + """\
  environment:
    DB_PASSWORD: ${env:DB_PASSWORD}
    REGION_NAME: ${env:REGION_NAME}
functions:
  api: {handler: handler.main}
""", environ={"DB_PASSWORD": "hunter2", "REGION_NAME": "north"})
    fn = conv.spec["functions"]["api"]
    assert fn["env"] == {"REGION_NAME": "north"}
    assert fn["secrets"]["DB_PASSWORD"] == {"local": "env:DB_PASSWORD", "docker": "env:DB_PASSWORD"}
    assert "hunter2" not in conv.to_yaml()
