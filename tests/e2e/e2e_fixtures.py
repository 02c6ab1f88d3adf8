"""Load another e2e folder's conftest as a module, once, under one canonical name per folder.

Several e2e folders reuse the aws folder's moto server and the docker folder's engine fixtures instead of
copying them. Every folder has a conftest.py, so they cannot be imported by name; this loads each file
once (`e2e_<folder>_fixtures`) and returns the same module to every caller.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

E2E = Path(__file__).resolve().parent


def fixtures_of(folder: str) -> ModuleType:
    name = f"e2e_{folder}_fixtures"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, E2E / folder / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
