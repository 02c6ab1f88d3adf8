"""One service of existing code (Lambda handlers, a Flask app, a FastAPI app), built once for aws, local,
gcp and azure, and each build running on its target's real runtime (see styles_support); and a service of
`async def` portable handlers (async_service/), built and run the same way."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from types import SimpleNamespace

import pytest

HERE = Path(__file__).resolve().parent
TESTS = HERE.parents[1]
for extra in (TESTS / "fixtures", TESTS / "functional" / "azure"):  # the Runtime API, the worker's indexing
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from styles_support import (  # noqa: E402
    AzureTarget,
    GcpTarget,
    LambdaTarget,
    LocalTarget,
    build_everywhere,
    seen_reader,
)


@pytest.fixture(scope="session")
def styles_build(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The service built for every target (dependencies installed for aws and local, as deploy does)."""
    return build_everywhere(HERE / "service", tmp_path_factory.mktemp("styles") / "legacy")


@pytest.fixture(scope="session")
def seen_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("seen") / "seen.jsonl"


@pytest.fixture
def seen(seen_file: Path, monkeypatch: pytest.MonkeyPatch):
    """What the handlers saw during this test, on any target (one JSON object per call)."""
    monkeypatch.setenv("STYLES_SEEN", str(seen_file))
    return seen_reader(seen_file)


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


# ---- the `async def` service (async_service/, test_styles_async.py) -----------------------------------------

AZURE_TIMEOUT_MS = "1000"


def gcp_environment(service: Path) -> dict[str, dict[str, str]]:
    """Each function's environment as the GCP deploy sets it (its planned resource), by entry point: the
    shim's MULTICLOUD_TIMEOUT_MS comes from there."""
    from multicloud.project import Project
    from multicloud.providers.gcp.model import cloud_functions, settings_of
    from multicloud.providers.gcp.resources import desired_function

    project = Project.load(service)
    settings = settings_of(project)
    return {cf.entry_point: desired_function(cf, settings, "p", "projects/p/locations/l", "0" * 64)[
        "service_config"]["environment_variables"] for cf in cloud_functions(project)}


@pytest.fixture(scope="session")
def async_build(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_everywhere(HERE / "async_service", tmp_path_factory.mktemp("async") / "asyncsvc")


@pytest.fixture(scope="session")
def async_targets(async_build: dict[str, Path], seen_file: Path,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """The four runtimes, each serving the async service's build: `.aws`, `.local`, `.gcp`, `.azure`. Azure's
    shim reads the MULTICLOUD_TIMEOUT_MS app setting the Azure plan writes (the service's timeout, 1 s); GCP's
    the environment variable of the same name the GCP deploy sets on each function."""
    with ExitStack() as stack:
        aws = LambdaTarget(async_build["aws"] / "package.zip", tmp_path_factory.mktemp("async-lambda"), seen_file)
        stack.callback(aws.close)
        local = LocalTarget(async_build["local"], seen_file)
        stack.callback(local.close)
        gcp = GcpTarget(async_build["gcp"] / "source.zip", tmp_path_factory.mktemp("async-gcp"),
                        env=gcp_environment(HERE / "async_service"))
        stack.callback(gcp.close)
        saved = os.environ.get("MULTICLOUD_TIMEOUT_MS")
        os.environ["MULTICLOUD_TIMEOUT_MS"] = AZURE_TIMEOUT_MS  # read by AzureShim when function_app imports
        try:
            azure = AzureTarget(async_build["azure"] / "app.zip", tmp_path_factory.mktemp("async-azure"))
        finally:
            if saved is None:
                os.environ.pop("MULTICLOUD_TIMEOUT_MS", None)
            else:
                os.environ["MULTICLOUD_TIMEOUT_MS"] = saved
        stack.callback(azure.close)
        yield SimpleNamespace(aws=aws, local=local, gcp=gcp, azure=azure)
