"""One service of existing code (Lambda handlers, a Flask app, a FastAPI app), built once for aws, local,
gcp and azure, and each build running on its target's real runtime (see styles_support)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
TESTS = HERE.parents[1]
for extra in (TESTS / "fixtures", TESTS / "functional" / "azure"):  # the Runtime API, the worker's indexing
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from styles_support import AzureTarget, GcpTarget, LambdaTarget, LocalTarget  # noqa: E402

from multicloud.orchestrate import build_target  # noqa: E402
from multicloud.project import Project  # noqa: E402
from multicloud.provider import no_progress  # noqa: E402


@pytest.fixture(scope="session")
def styles_build(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The service built for every target (dependencies installed for aws and local, as deploy does)."""
    root = tmp_path_factory.mktemp("styles") / "legacy"
    shutil.copytree(HERE / "service", root, ignore=shutil.ignore_patterns("__pycache__", ".multicloud"))
    project = Project.load(root)
    return {target: build_target(project, target, no_progress).out_dir for target in ("aws", "local", "gcp", "azure")}


@pytest.fixture(scope="session")
def seen_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("seen") / "seen.jsonl"


@pytest.fixture
def seen(seen_file: Path, monkeypatch: pytest.MonkeyPatch):
    """What the handlers saw during this test, on any target (one JSON object per call)."""
    import json

    seen_file.write_text("")
    monkeypatch.setenv("STYLES_SEEN", str(seen_file))

    def read() -> list[dict[str, object]]:
        lines = [json.loads(line) for line in seen_file.read_text().splitlines() if line.strip()]
        seen_file.write_text("")
        return lines

    return read


@pytest.fixture(scope="session")
def lambda_target(styles_build: dict[str, Path], seen_file: Path,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[LambdaTarget]:
    target = LambdaTarget(styles_build["aws"] / "package.zip", tmp_path_factory.mktemp("lambda"), seen_file)
    yield target
    target.close()


@pytest.fixture(scope="session")
def local_target(styles_build: dict[str, Path], seen_file: Path) -> Iterator[LocalTarget]:
    target = LocalTarget(styles_build["local"], seen_file)
    yield target
    target.close()


@pytest.fixture(scope="session")
def gcp_target(styles_build: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[GcpTarget]:
    target = GcpTarget(styles_build["gcp"] / "source.zip", tmp_path_factory.mktemp("gcp"))
    yield target
    target.close()


@pytest.fixture(scope="session")
def azure_target(styles_build: dict[str, Path], gcp_target: GcpTarget,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzureTarget]:
    target = AzureTarget(styles_build["azure"] / "app.zip", tmp_path_factory.mktemp("azure"))
    yield target
    target.close()
