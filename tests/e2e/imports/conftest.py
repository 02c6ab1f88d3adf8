"""Fixtures for the corpus tests: a moto server (stand-in for DynamoDB and SQS), AWS's runtime interface client
and serverless-wsgi from the test environment, and the offline wheelhouse the corpus builds install from.

Nothing here downloads: awslambdaric and serverless-wsgi are pinned in the `test` extra, and the services'
own dependencies come from the wheelhouse that tests/corpus/wheelhouse.py prepares (.ci/run runs it).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[3]
# distributions a Lambda-like process may see, each with the distributions it needs at run time
RUNTIME_CLIENT = ("awslambdaric", "simplejson", "snapshot-restore-py")
WSGI_ADAPTER = ("serverless-wsgi",)  # without Werkzeug: the adapter uses the app's own, from the package


def wheelhouse_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("corpus_wheelhouse", ROOT / "tests" / "corpus" / "wheelhouse.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def wheelhouse() -> Iterator[Path]:
    """Point every build's installer at the corpus wheelhouse, and at nothing else (pip's standard variables,
    which multicloud also passes to uv). A missing or stale wheelhouse fails the test, naming the script.
    Module-scoped, so the offline settings end with the module that asked for them: a session-wide patch
    would reach every later test that installs from an index."""
    script = wheelhouse_script()
    folder = Path(os.environ.get("MULTICLOUD_CORPUS_WHEELHOUSE") or script.DEFAULT_DIR).resolve()
    why = script.problem(folder)
    if why:
        pytest.fail(why, pytrace=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PIP_NO_INDEX", "1")
        mp.setenv("PIP_FIND_LINKS", str(folder))
        for name in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"):
            mp.delenv(name, raising=False)
        yield folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    """A moto server on a free port; tests point boto3 at it with AWS_ENDPOINT_URL (never os.environ here)."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def isolated(distributions: tuple[str, ...], dest: Path) -> Path:
    """A folder holding only these installed distributions (links to their top-level files), so a process run
    with `python -S` and this folder on its path sees them and nothing else of the test environment."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in distributions:
        dist = importlib.metadata.distribution(name)
        for top in {Path(str(f)).parts[0] for f in dist.files or ()} - {"__pycache__", ".."}:
            source = Path(str(dist.locate_file(top)))
            if source.exists() and not (dest / top).exists():
                (dest / top).symlink_to(source)
    return dest


@pytest.fixture(scope="session")
def ric(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """AWS's Lambda runtime interface client (the test extra pins it), alone in a folder, as in Lambda's image."""
    return isolated(RUNTIME_CLIENT, tmp_path_factory.mktemp("awslambdaric"))


@pytest.fixture(scope="session")
def wsgi_adapter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """serverless_wsgi alone (it uses the app's own Werkzeug), for the reference runs of serverless-wsgi
    functions."""
    return isolated(WSGI_ADAPTER, tmp_path_factory.mktemp("serverless-wsgi"))
