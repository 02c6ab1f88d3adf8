"""`include:` and `exclude:` decide what ships, the same way in every target's artifact.

Real builds read back: the aws zip, the azure zip, the gcp source zip and the local release folder (a
real deploy, served). The docker image is checked in tests/e2e/docker/test_docker_pull.py's sibling
test_docker_files.py (it needs an engine).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from multicloud.cli.app import app, hoist_global_options
from multicloud.files import matches, select

HANDLER = '''
from pathlib import Path


def main(event, context):
    here = Path(__file__).parent
    return {"fixture": (here / "tests" / "fixtures" / "data.json").read_text().strip(),
            "docs": (here / "docs").exists()}
'''
SPEC = """\
service: files
include: ["tests/fixtures/**", ".well-known/*"]
exclude: [docs, "*.txt", "**/*.tmp"]
functions:
  api:
    handler: app.main
    triggers: [{http: {path: /files}}]
targets:
  local: {}
"""
SHIPPED = {"app.py", "tests/fixtures/data.json", ".well-known/security.txt", "lib/keep.py"}
NOT_SHIPPED = {"tests/test_app.py", "docs/guide.md", "notes.txt", "lib/scratch.tmp", ".env", "multicloud.yaml"}


def cli(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, hoist_global_options(list(args)))
    return res.exit_code, res.output


@pytest.fixture()
def service(tmp_path: Path) -> Path:
    root = tmp_path / "files"
    contents = {"app.py": HANDLER, "tests/fixtures/data.json": '{"ok": 1}', ".well-known/security.txt": "contact",
                "lib/keep.py": "", "tests/test_app.py": "", "docs/guide.md": "big", "notes.txt": "private",
                "lib/scratch.tmp": "", ".env": "SECRET=1", "multicloud.yaml": SPEC}
    for name, text in contents.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def user_names(names: set[str]) -> set[str]:
    return {n for n in names if n in SHIPPED | NOT_SHIPPED}


@pytest.mark.parametrize("target, artifact", [("aws", "package.zip"), ("azure", "app.zip"),
                                              ("gcp", "source.zip")])
def test_zip_artifacts_honour_include_and_exclude(service: Path, target: str, artifact: str) -> None:
    code, out = cli("build", str(service), "--target", target)
    assert code == 0, out
    with zipfile.ZipFile(service / ".multicloud" / "build" / target / artifact) as zf:
        names = set(zf.namelist())
    assert user_names(names) == SHIPPED, names


def test_local_release_ships_the_same_files_and_serves_the_fixture(service: Path) -> None:
    try:
        code, out = cli("deploy", str(service), "--target", "local")
        assert code == 0, out
        releases = list((service / ".multicloud" / "local" / "releases").iterdir())
        app_dir = next(r for r in releases if not r.name.startswith(".")) / "app"
        shipped = {p.relative_to(app_dir).as_posix() for p in app_dir.rglob("*") if p.is_file()}
        assert user_names(shipped) == SHIPPED, shipped
        code, out = cli("invoke", str(service), "--target", "local", "--path", "/files")
        assert code == 0, out
        assert json.loads(out[out.index("{"):]) == {"fixture": '{"ok": 1}', "docs": False}
    finally:
        cli("remove", str(service), "--target", "local", "--yes")


@pytest.mark.parametrize("pattern", ["../secrets/*", "/etc/passwd", "~/.aws/credentials", "a/../../b", ""])
@pytest.mark.parametrize("field", ["include", "exclude"])
def test_a_pattern_leaving_the_folder_is_a_located_spec_error(service: Path, field: str, pattern: str) -> None:
    spec = service / "multicloud.yaml"
    spec.write_text(SPEC.replace(f"{field}: [", f"{field}: [{json.dumps(pattern)}, "))
    code, out = cli("validate", str(service))
    assert code == 2, out
    assert f"{spec}:{2 if field == 'include' else 3}:" in out and f"{field}[0]" in out, out


def test_an_include_that_matches_nothing_is_a_spec_error(service: Path) -> None:
    spec = service / "multicloud.yaml"
    spec.write_text(SPEC.replace('".well-known/*"', '".well-known/*", "tests/fixture/**"'))
    code, out = cli("validate", str(service))
    assert code == 2 and "'tests/fixture/**' matches no file" in out and f"{spec}:2:" in out, out


def test_a_link_out_of_the_folder_is_refused_not_copied(service: Path, tmp_path: Path) -> None:
    (tmp_path / "credentials").write_text("aws_secret_access_key = x")
    (service / "lib" / "creds").symlink_to(tmp_path / "credentials")
    code, out = cli("build", str(service), "--target", "aws")
    assert code == 2 and "outside the service's folder" in out, out
    (service / "multicloud.yaml").write_text(SPEC.replace('"**/*.tmp"]', '"**/*.tmp", lib/creds]'))
    assert cli("build", str(service), "--target", "aws")[0] == 0  # excluded: fine


def test_a_symlink_loop_is_a_spec_error(service: Path) -> None:
    (service / "loop").symlink_to(service / "loop")
    code, out = cli("validate", str(service))
    assert code == 2 and "loop" in out and "Traceback" not in out, out


@pytest.mark.parametrize("pattern, path, expected", [
    ("tests/fixtures/**", "tests/fixtures/a/b.json", True),
    ("tests/fixtures", "tests/fixtures/a/b.json", True),
    ("tests/fixtures/*", "tests/fixtures/a/b.json", True),  # a folder match covers what is under it
    ("*.txt", "notes.txt", True),
    ("*.txt", "a/notes.txt", False),
    ("**/*.txt", "a/b/notes.txt", True),
    ("**/*.txt", "notes.txt", True),
    ("docs", "docs2/x", False),
    (".well-known/?ecurity.txt", ".well-known/security.txt", True),
])
def test_glob_rules(pattern: str, path: str, expected: bool) -> None:
    assert matches(pattern, path) is expected


def test_default_selection_skips_tests_dotfiles_and_caches(service: Path) -> None:
    (service / "multicloud.yaml").write_text(SPEC.replace('include: ["tests/fixtures/**", ".well-known/*"]\n', "")
                                             .replace('exclude: [docs, "*.txt", "**/*.tmp"]\n', ""))
    (service / ".venv" / "lib").mkdir(parents=True)
    (service / ".venv" / "lib" / "big.py").write_text("")
    (service / "pkg" / "__pycache__").mkdir(parents=True)
    (service / "pkg" / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"")
    names = set(select(service).files)
    assert names == {"app.py", "lib/keep.py", "docs/guide.md", "notes.txt", "lib/scratch.tmp"}, names
