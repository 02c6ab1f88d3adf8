"""Serverless handler strings -> multicloud `handler:` and `style:`.

Lambda loads `dir/file.fn` by turning the path into the module `dir.file` (a `module:` of
serverless-python-requirements, or `custom.wsgi.app` of serverless-wsgi, is a folder prefix or the app
itself). The handler file is read with `ast`, never imported: a module-level `handler = Mangum(app)` is an
ASGI app served as `style: asgi` (`make_lambda_handler(app)` of apig-wsgi a WSGI one), a serverless-wsgi
function is `style: wsgi`, and every other handler keeps receiving the Lambda event as `style: aws`.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

SEGMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_SOURCE = 2 * 1024 * 1024
# module-level wrappers that turn an app into a Lambda handler -> the style the app itself has
APP_WRAPPERS = {"Mangum": "asgi", "make_lambda_handler": "wsgi"}
WSGI_HANDLERS = ("wsgi_handler.handler", "wsgi.handler")


@dataclass
class Handler:
    handler: str | None  # multicloud module.attribute, None when it cannot be converted
    style: str = "aws"
    problem: str = ""
    remarks: list[tuple[str, str]] = field(default_factory=list)  # (what, todo)


def module_path(written: str, module_dir: str | None = None) -> tuple[str | None, str]:
    """`src/handlers/file.fn` (+ module) -> ("src.handlers.file", "fn"), or (None, why)."""
    text = written.strip().replace("\\", "/")
    while text.startswith("./"):
        text = text[2:]
    path, dot, attr = text.rpartition(".")
    if not dot or not path or not attr:
        return None, f"{written!r} is not path/to/file.function"
    if module_dir:
        prefix = module_dir.strip().replace("\\", "/").strip("/")
        while prefix.startswith("./"):
            prefix = prefix[2:]
        path = f"{prefix}/{path}" if prefix and prefix != "." else path
    parts = [p for p in path.replace("/", ".").split(".") if p]
    if not parts or not all(SEGMENT.match(p) for p in parts) or not IDENTIFIER.match(attr):
        return None, (f"{written!r} has a path part that is not a Python name "
                      "(letters, digits, _ or -, not starting with a digit)")
    return ".".join(parts), attr


def source_file(root: Path, module: str) -> Path | None:
    rel = Path(*module.split("."))
    for candidate in (root / rel.with_suffix(".py"), root / rel / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def parse(path: Path) -> ast.Module | None:
    try:
        if path.stat().st_size > MAX_SOURCE:
            return None
        return ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def app_of(tree: ast.Module, attr: str) -> tuple[str, str] | None:
    """`attr = Mangum(app, ...)` at module level -> ("asgi", "app")."""
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)):
            continue
        if not any(isinstance(t, ast.Name) and t.id == attr for t in node.targets):
            continue
        func = node.value.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        style = APP_WRAPPERS.get(name)
        args = node.value.args or [k.value for k in node.value.keywords if k.arg in ("app", "wsgi_app")]
        if style and args and isinstance(args[0], ast.Name):
            return style, args[0].id
    return None


def wrapper_options(tree: ast.Module, attr: str) -> list[str]:
    for node in tree.body:
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                and any(isinstance(t, ast.Name) and t.id == attr for t in node.targets)):
            return [k.arg for k in node.value.keywords if k.arg and k.arg not in ("app", "lifespan")]
    return []


def sibling_imports(tree: ast.Module, folder: Path, root: Path) -> list[str]:
    """Top-level imports of modules that sit beside the file but are not importable from the service root."""
    found = []
    for node in tree.body:
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
            [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
        for name in names:
            top = name.split(".")[0]
            beside = (folder / f"{top}.py").is_file() or (folder / top).is_dir()
            at_root = (root / f"{top}.py").is_file() or (root / top).is_dir()
            if beside and not at_root and folder != root:
                found.append(top)
    return sorted(set(found))


def convert_handler(written: object, root: Path, *, module_dir: str | None = None,
                    wsgi_app: str | None = None) -> Handler:
    """One function's handler; `wsgi_app` is custom.wsgi.app when serverless-wsgi serves this function."""
    if not isinstance(written, str) or not written.strip():
        return Handler(None, problem="it has no handler (path/to/file.function)")
    if wsgi_app is not None and written.strip() in WSGI_HANDLERS:
        return _wsgi(wsgi_app, root)
    module, attr = module_path(written, module_dir)
    if module is None:
        return Handler(None, problem=attr)
    source = source_file(root, module)
    if source is None:
        return Handler(None, problem=f"its handler file {module.replace('.', '/')}.py is not in the service folder")
    out = Handler(f"{module}.{attr}")
    tree = parse(source)
    if tree is None:
        return out
    app = app_of(tree, attr)
    if app is not None and app[1] in top_level_names(tree):
        out = Handler(f"{module}.{app[1]}", app[0])
        out.remarks.append((f"the Lambda adapter `{attr}` wraps the {app[0].upper()} app `{app[1]}`, which "
                            f"multicloud serves directly (style: {app[0]})", ""))
        extra = wrapper_options(tree, attr)
        if extra:
            out.remarks.append((f"adapter options {', '.join(extra)} are not carried over",
                                "check that the app's routes do not depend on them"))
    if module_dir:
        siblings = sibling_imports(tree, source.parent, root)
        if siblings:
            out.remarks.append((
                f"the handler imports {', '.join(siblings)} as top-level module(s); Serverless packaged "
                f"{module_dir}/ as the function's root, multicloud ships the service folder",
                f"import them as {module.rsplit('.', 1)[0]}.<name> (or relatively), or move them to the service "
                "folder"))
    return out


def _wsgi(app: str, root: Path) -> Handler:
    module, attr = module_path(app)
    if module is None:
        return Handler(None, "wsgi", problem=f"custom.wsgi.app: {attr}")
    source = source_file(root, module)
    if source is None:
        return Handler(None, "wsgi", problem=f"the WSGI app's file {module.replace('.', '/')}.py (custom.wsgi.app) is "
                                             "not in the service folder")
    out = Handler(f"{module}.{attr}", "wsgi")
    if "/" in app:
        tree = parse(source)
        siblings = sibling_imports(tree, source.parent, root) if tree else []
        if siblings:
            out.remarks.append((
                f"serverless-wsgi put {Path(app).parent}/ on sys.path; the app imports {', '.join(siblings)} from "
                "there as top-level module(s)",
                f"import them as {module.rsplit('.', 1)[0]}.<name> (or relatively)"))
    return out
