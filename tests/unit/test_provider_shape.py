"""One shape per target (issue 16): every `providers/<target>/` has the same modules for the same jobs, its
`__init__.py` only wires the Provider class, and its settings and capability row are found through the
provider registry without importing a cloud SDK.

The tree is read as installed (`multicloud.providers`), so the same test holds for a wheel. Each
(target, module) pair is its own test: a failure names the missing module.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from importlib import import_module
from pathlib import Path

import pytest

from multicloud import capabilities, registry
from multicloud.spec.targets import BUILT_IN, TargetsSettings, settings_class

#: The standard modules, one job each (docs/architecture.md, "Adding a target").
STANDARD = ("settings", "capabilities", "build", "plan", "apply", "ops", "lock", "drift", "errors")
#: `__init__.py` wires hooks to those modules: a method longer than this holds logic that belongs in one.
MAX_WIRING_METHOD_LINES = 12
#: What a settings module may import: it is loaded while the spec model is defined (spec/targets.py).
SETTINGS_IMPORTS = {"__future__", "typing", "re", "pydantic", "multicloud.spec.types"}
#: Top-level packages of the cloud SDKs, none of which may load with a provider's package.
SDKS = ("boto3", "botocore", "google.cloud", "google.api_core", "google.auth", "azure", "docker")


def _folder() -> Path:
    return Path(import_module("multicloud.providers").__path__[0])


TARGETS = sorted(p.name for p in _folder().iterdir() if (p / "__init__.py").is_file())


def _tree(target: str, module: str) -> ast.Module:
    return ast.parse((_folder() / target / f"{module}.py").read_text())


def test_every_provider_folder_is_a_registered_target() -> None:
    assert TARGETS == sorted(BUILT_IN) == registry.available()


@pytest.mark.parametrize("module", STANDARD)
@pytest.mark.parametrize("target", TARGETS)
def test_standard_module_present(target: str, module: str) -> None:
    path = _folder() / target / f"{module}.py"
    assert path.is_file(), f"providers/{target}/{module}.py is missing (standard modules: {', '.join(STANDARD)})"
    assert ast.get_docstring(_tree(target, module)), f"providers/{target}/{module}.py: say its job in a docstring"


@pytest.mark.parametrize("target", TARGETS)
def test_init_only_wires_the_provider_class(target: str) -> None:
    """`__init__.py`: imports, constants, and exactly one class, the target's Provider, whose methods are
    short hooks delegating to the standard modules; no functions, no other classes."""
    cls = registry.provider_class(target)
    assert cls.__module__ == f"multicloud.providers.{target}", "the entry point's class is defined in __init__.py"
    classes, logic = [], []
    for node in _tree(target, "__init__").body:
        if isinstance(node, ast.ClassDef):
            classes.append(node.name)
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    lines = (item.end_lineno or item.lineno) - item.lineno + 1
                    if lines > MAX_WIRING_METHOD_LINES:
                        logic.append(f"{node.name}.{item.name} ({lines} lines)")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            logic.append(f"function {node.name}")
        elif isinstance(node, ast.If):  # `if TYPE_CHECKING:` imports only
            if not all(isinstance(n, (ast.Import, ast.ImportFrom)) for n in node.body) or node.orelse:
                logic.append(f"if-block at line {node.lineno}")
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            names = [t.id for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
                     if isinstance(t, ast.Name)]
            if not names or not all(n.isupper() or n == "__all__" for n in names):
                logic.append(f"assignment at line {node.lineno}")
        elif not isinstance(node, (ast.Import, ast.ImportFrom, ast.Expr)):
            logic.append(f"{type(node).__name__} at line {node.lineno}")
    assert classes == [cls.__name__], f"providers/{target}/__init__.py defines {classes}, not only {cls.__name__}"
    assert not logic, f"providers/{target}/__init__.py holds logic that belongs in a module: {logic}"


@pytest.mark.parametrize("target", TARGETS)
def test_settings_module_is_light_and_is_the_providers_model(target: str) -> None:
    imported = set()
    for node in ast.walk(_tree(target, "settings")):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"providers/{target}/settings.py: no relative import (it loads without its package)"
            imported.add(node.module or "")
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    assert imported <= SETTINGS_IMPORTS, f"providers/{target}/settings.py imports {imported - SETTINGS_IMPORTS}"
    model = settings_class(target)
    assert model.__module__ == f"multicloud.providers.{target}.settings"
    assert registry.provider_class(target).settings_class is model  # one class, whichever import came first
    assert model in getattr(TargetsSettings.model_fields[target].annotation, "__args__", ())


@pytest.mark.parametrize("target", TARGETS)
def test_capability_row_comes_from_the_provider(target: str) -> None:
    row = capabilities.limits(target)
    assert row is import_module(f"multicloud.providers.{target}.capabilities").LIMITS
    assert row.triggers <= capabilities.ALL_TRIGGERS and row.memory_mb[0] < row.memory_mb[1]


def test_capability_table_lists_the_targets_in_the_specs_order() -> None:
    assert list(capabilities.table()) == list(BUILT_IN)


@pytest.mark.parametrize("target", TARGETS)
def test_provider_settings_and_row_load_without_a_cloud_sdk(target: str) -> None:
    """A fresh interpreter imports the provider's package, its settings and its capability row (what
    `validate`, `capabilities` and `--help` need), then lists the SDK modules that came with them."""
    code = (
        "import json, sys\n"
        "before = set(sys.modules)  # .pth files may declare namespace packages (google.cloud) at startup\n"
        "from multicloud import capabilities, registry\n"
        f"registry.provider_class({target!r}); capabilities.limits({target!r})\n"
        f"import multicloud.providers.{target}.settings\n"
        f"print(json.dumps(sorted(m for m in set(sys.modules) - before if m.startswith({SDKS!r}))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(out.stdout) == [], f"loading the {target} provider imported a cloud SDK"
