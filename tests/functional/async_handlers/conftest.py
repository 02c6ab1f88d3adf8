"""The async-handler service built once for aws, local, gcp and azure, each build on its target's real
runtime: awslambdaric, the private runtime server, functions-framework, the azure-functions indexer
(the drivers are tests/functional/styles/styles_support.py)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
TESTS = HERE.parents[1]
for extra in (TESTS / "fixtures", TESTS / "functional" / "azure", TESTS / "functional" / "styles"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from styles_support import AzureTarget, GcpTarget, LambdaTarget, LocalTarget  # noqa: E402

from multicloud.orchestrate import build_target  # noqa: E402
from multicloud.project import Project  # noqa: E402
from multicloud.provider import no_progress  # noqa: E402

AZURE_TIMEOUT_MS = "1000"  # the app setting the Azure plan writes (MULTICLOUD_TIMEOUT_MS, the service's timeout)


@pytest.fixture(scope="session")
def async_build(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("async") / "asyncsvc"
    shutil.copytree(HERE / "service", root, ignore=shutil.ignore_patterns("__pycache__", ".multicloud"))
    project = Project.load(root)
    return {target: build_target(project, target, no_progress).out_dir for target in ("aws", "local", "gcp", "azure")}


@pytest.fixture(scope="session")
def async_seen_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("async-seen") / "seen.jsonl"


@pytest.fixture
def seen(async_seen_file: Path, monkeypatch: pytest.MonkeyPatch):
    """What the handlers recorded during this test, on any target (one JSON object per record)."""
    async_seen_file.write_text("")
    monkeypatch.setenv("STYLES_SEEN", str(async_seen_file))

    def read(keep: bool = False) -> list[dict[str, object]]:
        lines = [json.loads(line) for line in async_seen_file.read_text().splitlines() if line.strip()]
        if not keep:
            async_seen_file.write_text("")
        return lines

    return read


@pytest.fixture(scope="session")
def async_lambda(async_build: dict[str, Path], async_seen_file: Path,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[LambdaTarget]:
    target = LambdaTarget(async_build["aws"] / "package.zip", tmp_path_factory.mktemp("async-lambda"),
                          async_seen_file)
    yield target
    target.close()


@pytest.fixture(scope="session")
def async_local(async_build: dict[str, Path], async_seen_file: Path) -> Iterator[LocalTarget]:
    target = LocalTarget(async_build["local"], async_seen_file)
    yield target
    target.close()


@pytest.fixture(scope="session")
def async_gcp(async_build: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[GcpTarget]:
    target = GcpTarget(async_build["gcp"] / "source.zip", tmp_path_factory.mktemp("async-gcp"))
    yield target
    target.close()


@pytest.fixture(scope="session")
def async_azure(async_build: dict[str, Path], async_gcp: GcpTarget,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzureTarget]:
    saved = os.environ.get("MULTICLOUD_TIMEOUT_MS")
    os.environ["MULTICLOUD_TIMEOUT_MS"] = AZURE_TIMEOUT_MS  # read by AzureShim when function_app imports
    try:
        target = AzureTarget(async_build["azure"] / "app.zip", tmp_path_factory.mktemp("async-azure"))
    finally:
        if saved is None:
            os.environ.pop("MULTICLOUD_TIMEOUT_MS", None)
        else:
            os.environ["MULTICLOUD_TIMEOUT_MS"] = saved
    yield target
    target.close()
