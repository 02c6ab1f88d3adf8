"""A new user's first minutes: `multicloud init` then `multicloud build` on every target that needs no
engine, and the one requirements rule (README "Dependencies") honoured by each artifact.

Real builds: wheels come from the package index pip is configured with, the zips are read back.
The docker target's scaffold build is in tests/e2e/docker/test_docker_pull.py (it needs an engine).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from multicloud.cli.app import app, hoist_global_options

ENGINE_FREE = ("aws", "azure", "gcp", "local")


def cli(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, hoist_global_options(list(args)))
    return res.exit_code, res.output


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("first") / "demo"
    code, out = cli("init", "demo", "--dir", str(dest))
    assert code == 0, out
    return dest


@pytest.mark.parametrize("target", ENGINE_FREE)
def test_scaffold_builds_on_every_engine_free_target(demo: Path, target: str) -> None:
    res = CliRunner().invoke(app, hoist_global_options(["-o", "json", "build", str(demo), "--target", target]))
    assert res.exit_code == 0, res.output
    # stdout only: under CI=true progress goes to stderr as JSON lines of its own
    summary = json.loads(res.stdout)["targets"][0]
    assert summary["ok"] is True and summary["target"] == target


def _spec_without_requirements_key(root: Path) -> None:
    spec = root / "multicloud.yaml"
    spec.write_text("\n".join(line for line in spec.read_text().splitlines()
                              if not line.startswith("requirements:")) + "\n")


@pytest.fixture(scope="module")
def with_dep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scaffold with a dependency in requirements.txt and *no* `requirements:` key: the default rule."""
    dest = tmp_path_factory.mktemp("dep") / "svc"
    assert cli("init", "svc", "--dir", str(dest))[0] == 0
    _spec_without_requirements_key(dest)
    (dest / "requirements.txt").write_text("# pure-python, one module\nsix\n")
    return dest


def _names(zip_path: Path) -> set[str]:
    with zipfile.ZipFile(zip_path) as zf:
        return set(zf.namelist())


@pytest.mark.slow
def test_requirements_txt_beside_the_spec_is_installed_by_every_target(with_dep: Path) -> None:
    code, out = cli("build", str(with_dep), "--target", ",".join(ENGINE_FREE))
    assert code == 0, out
    build = with_dep / ".multicloud" / "build"
    assert "six.py" in _names(build / "aws" / "package.zip")
    assert ".python_packages/lib/site-packages/six.py" in _names(build / "azure" / "app.zip")
    with zipfile.ZipFile(build / "gcp" / "source.zip") as zf:
        gcp_reqs = zf.read("requirements.txt").decode().splitlines()
    assert "six" in gcp_reqs and any(line.startswith("functions-framework") for line in gcp_reqs)
    assert (build / "local" / "deps" / "six.py").is_file()


def test_a_comment_only_requirements_file_installs_nothing(demo: Path) -> None:
    code, out = cli("build", str(demo), "--target", "aws")
    assert code == 0, out
    names = _names(demo / ".multicloud" / "build" / "aws" / "package.zip")
    assert not [n for n in names if n.endswith(".dist-info/METADATA")], names


def test_gcp_refuses_a_local_path_at_validate_with_its_line(tmp_path: Path) -> None:
    dest = tmp_path / "svc"
    assert cli("init", "svc", "--dir", str(dest))[0] == 0
    (dest / "requirements.txt").write_text("six\n-r more.txt\n")
    (dest / "more.txt").write_text("# local lib\n-e ./libs/mine\n")
    code, out = cli("validate", str(dest), "--target", "gcp")
    assert code == 2, out
    assert f"{(dest / 'more.txt').resolve()}:2" in out and "local paths" in out
    assert cli("validate", str(dest), "--target", "aws,local")[0] == 0  # built here: a local path works


def test_requirements_include_cycle_is_a_spec_error(tmp_path: Path) -> None:
    dest = tmp_path / "svc"
    assert cli("init", "svc", "--dir", str(dest))[0] == 0
    (dest / "requirements.txt").write_text("-r requirements.txt\n")
    code, out = cli("validate", str(dest))
    assert code == 2 and "include each other" in out, out
