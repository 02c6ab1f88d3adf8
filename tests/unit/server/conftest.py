"""Fixtures for the private runtime tests (helpers live in server_harness.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from server_harness import BASIC_FUNCTIONS, KEY, Runtime, start_runtime


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    tmp = tmp_path_factory.mktemp("rt")
    keyfile = tmp / "key"
    keyfile.write_text(KEY + "\n")
    rt = start_runtime(tmp, BASIC_FUNCTIONS, limits={"max_body_bytes": 1024, "concurrency": 8},
                       auth={"key": f"file:{keyfile}"}, env={"TEST_API_TOKEN": "tok-123"})
    yield rt
    rt.stop()
