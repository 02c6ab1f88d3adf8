"""Secrets on the `local` target, through the real CLI and the real runtime server:

* rotation: changing the value behind a reference and redeploying reaches the running function, for every
  reference form (plain `env:`, a per-target map, `file:`); an unchanged value stays a no-op;
* masking: the value never appears in the service's log, whether the handler logs it, prints it or raises
  an exception that carries it; `***` stands in its place.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HANDLER = '''
import os


def show(event, context):
    return {k: os.environ.get(k) for k in ("MAPPED", "PLAIN", "FROM_FILE")}


def leak(event, context):
    secret = os.environ["MAPPED"]
    context.logger.info("calling upstream", key=secret, note=f"with {secret}")
    print(f"debug print {secret}")
    raise RuntimeError(f"upstream refused key {secret}")
'''
SPEC = """\
service: rotate
functions:
  show:
    handler: app.show
    secrets:
      MAPPED: {{docker: "env:MC_ROT_MAPPED", local: "env:MC_ROT_MAPPED"}}
      PLAIN: env:MC_ROT_PLAIN
      FROM_FILE: "file:{secret_file}"
    triggers: [{{http: {{path: /show}}}}]
  leak:
    handler: app.leak
    secrets:
      MAPPED: {{local: "env:MC_ROT_MAPPED"}}
    triggers: [{{http: {{path: /leak}}}}]
targets:
  local: {{}}
"""


class Service:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.secret_file = root.parent / "secret.txt"
        self.env = {**os.environ, "CI": "true"}

    def set(self, mapped: str, plain: str, from_file: str) -> None:
        self.env.update(MC_ROT_MAPPED=mapped, MC_ROT_PLAIN=plain)
        self.secret_file.write_text(from_file + "\n")

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "multicloud", *args], capture_output=True, text=True,
                              env=self.env, timeout=180)

    def deploy(self) -> dict[str, object]:
        proc = self.cli("-o", "json", "deploy", str(self.root), "--target", "local")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        summary: dict[str, object] = json.loads(proc.stdout)["targets"][0]
        return summary

    def show(self) -> dict[str, str]:
        proc = self.cli("invoke", str(self.root), "--target", "local", "-f", "show", "--path", "/show")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        answer: dict[str, str] = json.loads(proc.stdout)
        return answer


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    root = tmp_path / "rotate"
    root.mkdir()
    svc = Service(root)
    (root / "app.py").write_text(HANDLER)
    (root / "multicloud.yaml").write_text(SPEC.format(secret_file=svc.secret_file))
    yield svc
    svc.cli("remove", str(root), "--target", "local", "--yes")


def test_rotated_values_reach_the_running_function_in_every_reference_form(service: Service) -> None:
    service.set("mapped-one", "plain-one", "file-one")
    first = service.deploy()
    assert service.show() == {"MAPPED": "mapped-one", "PLAIN": "plain-one", "FROM_FILE": "file-one"}

    unchanged = service.deploy()
    assert unchanged["changed"] is False and unchanged["version"] == first["version"]

    service.set("mapped-two", "plain-one", "file-one")  # only the per-target map's value
    plan = service.cli("plan", str(service.root), "--target", "local")
    assert "secret values changed" in plan.stdout, plan.stdout
    rotated = service.deploy()
    assert rotated["changed"] is True and rotated["version"] == first["version"]  # same code
    assert service.show()["MAPPED"] == "mapped-two"

    service.set("mapped-two", "plain-two", "file-two")  # the plain reference and the file's content
    assert service.deploy()["changed"] is True
    assert service.show() == {"MAPPED": "mapped-two", "PLAIN": "plain-two", "FROM_FILE": "file-two"}


def test_the_value_never_reaches_the_log(service: Service) -> None:
    secret = "tok-3f9c2e81-live"
    service.set(secret, "plain-one", "file-one")
    service.deploy()
    proc = service.cli("invoke", str(service.root), "--target", "local", "-f", "leak", "--path", "/leak")
    assert proc.returncode == 1 and secret not in proc.stdout + proc.stderr
    log = (service.root / ".multicloud" / "local" / "service.log").read_text()
    assert secret not in log, log
    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    logged = [r for r in records if r.get("message") == "calling upstream"]
    assert logged and logged[0]["key"] == "***" and logged[0]["note"] == "with ***", logged
    failures = [r for r in records if "traceback" in r]
    assert failures and "upstream refused key ***" in str(failures[0]["traceback"]), failures
    assert "debug print ***" in log
    shown = service.cli("logs", str(service.root), "--target", "local")
    assert secret not in shown.stdout and "***" in shown.stdout


def test_a_short_value_is_named_at_deploy_and_start_and_masked_where_it_stands_alone(service: Service) -> None:
    service.set("ab", "plain-one", "file-one")  # 2 characters: masking every "ab" would garble every line
    proc = service.cli("deploy", str(service.root), "--target", "local")
    assert proc.returncode == 0, proc.stderr
    assert ("secret env:MC_ROT_MAPPED is shorter than 4 characters: it is masked in logs only where it stands "
            "alone") in proc.stderr
    log = (service.root / ".multicloud" / "local" / "service.log").read_text()
    assert "is shorter than 4 characters" in log and "env:MC_ROT_MAPPED" in log
    leak = service.cli("invoke", str(service.root), "--target", "local", "-f", "leak", "--path", "/leak")
    assert leak.returncode == 1
    log = (service.root / ".multicloud" / "local" / "service.log").read_text()
    assert "upstream refused key ***" in log and "upstream refused key ab" not in log
