"""Cross-field rules that need the spec's folder or a target: run after the model validates.

- each handler's module file exists under the spec's folder and defines the function (read with `ast`,
  never imported: importing user code could need its dependencies or have side effects);
- no two functions claim the same HTTP route and method;
- a handler style fits the function's triggers (a wsgi/asgi app serves HTTP only; `http_payload` is for aws);
- the requirements file exists;
- per target (`check_target`): the capability table allows every trigger kind, memory, timeout and
  secret reference the spec asks for.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path

from multicloud.capabilities import limits as capability_row
from multicloud.errors import Location, SpecError
from multicloud.spec.models import APP_STYLES, PUBLIC_TARGETS, Function, HttpTrigger, Spec
from multicloud.spec.secrets import SECRET_SCHEMES, ref_for, scheme_of

Locate = Callable[[tuple[str | int, ...]], Location]


def check_project(spec: Spec, root: Path, locate: Locate) -> list[SpecError]:
    errors: list[SpecError] = []
    defined: dict[Path, set[str] | SpecError] = {}  # each module read once, however many functions use it
    for name, fn in spec.functions.items():
        errors += _check_handler(root, fn.handler, locate(("functions", name, "handler")), defined, fn.style)
        errors += _check_style(name, fn, locate)
    errors += _check_routes(spec, locate)
    errors += _check_requirements(spec, root, locate)
    errors += _check_files(spec, root, locate)
    return errors


def _check_files(spec: Spec, root: Path, locate: Locate) -> list[SpecError]:
    """What ships is readable and stays in the folder, and each `include:` pattern brings something."""
    from multicloud.files import select

    try:
        selection = select(root, spec.include, spec.exclude)
    except SpecError as exc:
        return [exc]
    return [SpecError(f"include pattern {pattern!r} matches no file (or only files `exclude:` drops)",
                      fix="check the glob (relative to the spec's folder; ** spans folders), or remove it",
                      where=locate(("include", spec.include.index(pattern))))
            for pattern in selection.unmatched_includes]


def _check_requirements(spec: Spec, root: Path, locate: Locate) -> list[SpecError]:
    """The requirements file the rule picks (multicloud.requirements) exists and reads (includes too)."""
    from multicloud.requirements import read_requirements, requirements_file

    path = requirements_file(root, spec.requirements)
    if path is None:
        return []
    if not path.is_file():
        return [SpecError(f"requirements file {spec.requirements!r} not found",
                          fix="create it or fix the path (relative to the spec's folder)",
                          where=locate(("requirements",)))]
    try:
        read_requirements(path)
    except SpecError as exc:
        return [exc]
    return []


def _check_style(name: str, fn: Function, locate: Locate) -> list[SpecError]:
    """wsgi/asgi apps answer HTTP requests and nothing else; `http_payload` only shapes aws events."""
    errors = []
    if fn.http_payload is not None and fn.style != "aws":
        errors.append(SpecError(
            f"http_payload chooses the Lambda HTTP event of a `style: aws` handler; this function is {fn.style}",
            fix="remove http_payload, or set `style: aws` if the handler was written for Lambda",
            where=locate(("functions", name, "http_payload"))))
    if fn.style not in APP_STYLES:
        return errors
    kinds = [t.kind for t in fn.triggers]
    for index, kind in enumerate(kinds):
        if kind != "http":
            errors.append(SpecError(
                f"a {fn.style} app serves HTTP requests only; it cannot receive {kind} events",
                fix=f"move this {kind} trigger to another function (style portable or aws; it may import the "
                    "same code), or remove it",
                where=locate(("functions", name, "triggers", index, kind))))
    if "http" not in kinds:
        errors.append(SpecError(
            f"function {name!r} is a {fn.style} app but has no http trigger, so nothing can reach it",
            fix='add `- http: {path: "/{proxy+}", methods: [GET, POST, PUT, PATCH, DELETE]}` (and `path: /` '
                "for the root) to its triggers",
            where=locate(("functions", name, "triggers") if fn.triggers else ("functions", name, "style"))))
    return errors


def _check_handler(root: Path, handler: str, where: Location,
                   cache: dict[Path, set[str] | SpecError], style: str = "portable") -> list[SpecError]:
    module, attr = handler.rsplit(".", 1)
    rel = Path(*module.split("."))
    candidates = [root / rel.with_suffix(".py"), root / rel / "__init__.py"]
    source = next((c for c in candidates if c.is_file()), None)
    if source is None:
        return [SpecError(f"handler module {module!r} not found (looked for {rel.with_suffix('.py')})",
                          fix=f"create {rel.with_suffix('.py')} beside the spec or fix `handler:`", where=where)]
    if source not in cache:
        cache[source] = _defined_names(source)
    defined = cache[source]
    if isinstance(defined, SpecError):
        return [SpecError(defined.what, fix=defined.fix, where=where)]
    if attr not in defined:
        import difflib

        close = difflib.get_close_matches(attr, sorted(defined), n=1)
        define = {"wsgi": f"create the app in it, e.g. `{attr} = Flask(__name__)`",
                  "asgi": f"create the app in it, e.g. `{attr} = FastAPI()`"}.get(
                      style, f"define `def {attr}(event, context):` in it")
        fix = f"did you mean {module}.{close[0]}?" if close else define
        what = "app" if style in APP_STYLES else "function"
        return [SpecError(f"{source.name} defines no {what} {attr!r}", fix=fix, where=where)]
    return []


def _defined_names(source: Path) -> set[str] | SpecError:
    """Top-level names a module defines (functions, assignments, imports), read with `ast`."""
    try:
        tree = ast.parse(source.read_bytes(), filename=str(source))
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        line = getattr(exc, "lineno", None)
        return SpecError(f"handler module {source.name} does not parse: {exc.__class__.__name__}"
                         f"{f' at line {line}' if line else ''}", fix=f"fix the Python syntax in {source}")
    except OSError as exc:
        return SpecError(f"handler module {source.name} cannot be read: {exc.strerror}",
                         fix=f"check {source} and its permissions")
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    defined |= {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    defined |= {n.target.id for n in tree.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}
    defined |= {a.asname or a.name for n in tree.body if isinstance(n, ast.ImportFrom) for a in n.names}
    return defined


def _route_key(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path.rstrip("/") or "/")


def _check_routes(spec: Spec, locate: Locate) -> list[SpecError]:
    seen: dict[tuple[str, str], str] = {}
    errors = []
    for name, fn in spec.functions.items():
        for index, trigger in enumerate(fn.triggers):
            if not isinstance(trigger.config, HttpTrigger):
                continue
            for method in trigger.config.methods:
                key = (method, _route_key(trigger.config.path))
                if key in seen:
                    errors.append(SpecError(
                        f"route {method} {trigger.config.path} is already served by function {seen[key]!r}",
                        fix="give each function its own path or methods",
                        where=locate(("functions", name, "triggers", index, "http", "path")),
                    ))
                else:
                    seen[key] = name
    return errors


def check_target(spec: Spec, target: str, locate: Locate) -> list[SpecError]:
    """What the spec asks for that `target` cannot do."""
    limits = capability_row(target)
    errors = _check_placement(spec, target, locate)
    if errors:
        return errors
    for name, fn in spec.functions.items():
        over = fn.targets.get(target)  # type: ignore[call-overload]
        if over is not None and not over.enabled:
            continue
        if not spec.placement_of(name).allows(target):
            continue
        base = ("functions", name)
        memory = over.memory if over and over.memory else fn.memory
        timeout = over.timeout if over and over.timeout else fn.timeout
        mem_path = base + (("targets", target, "memory") if over and over.memory else ("memory",))
        tmo_path = base + (("targets", target, "timeout") if over and over.timeout else ("timeout",))
        low, high = limits.memory_mb
        if not low <= memory <= high:
            errors.append(SpecError(
                f"memory {memory} MB is outside {target}'s range {low}-{high} MB",
                fix=f"set memory between {low} and {high}, or override it under functions.{name}.targets.{target}",
                where=locate(mem_path)))
        kinds = {t.kind for t in fn.triggers}
        max_timeout = limits.max_timeout_s
        if kinds == {"http"}:
            max_timeout = limits.max_http_timeout_s
        if timeout > max_timeout:
            errors.append(SpecError(
                f"timeout {timeout} s exceeds {target}'s maximum of {max_timeout} s",
                fix=f"lower the timeout to {max_timeout} or less (override it under "
                    f"functions.{name}.targets.{target}), or deploy this function elsewhere",
                where=locate(tmo_path)))
        for index, trigger in enumerate(fn.triggers):
            if trigger.kind not in limits.triggers:
                offered = ", ".join(sorted(limits.triggers))
                errors.append(SpecError(
                    f"{target} has no {trigger.kind} trigger",
                    fix=f"{target} offers: {offered}. {limits.notes}",
                    where=locate(base + ("triggers", index, trigger.kind))))
        secrets = {**fn.secrets, **(over.secrets if over else {})}
        for env_name, ref in secrets.items():
            chosen = ref_for(ref, target)
            path = base + ("secrets", env_name)
            if chosen is None:
                errors.append(SpecError(
                    f"secret {env_name} has no reference for {target}",
                    fix=f"add `{target}: <reference>` to it ({_examples(target)})", where=locate(path)))
                continue
            scheme = scheme_of(chosen)
            if scheme not in limits.secret_schemes:
                errors.append(SpecError(
                    f"{target} cannot resolve {scheme}: references",
                    fix=f"use {_examples(target)}, e.g. a per-target map `{{{target}: ...}}`",
                    where=locate(path)))
    return errors


def _check_placement(spec: Spec, target: str, locate: Locate) -> list[SpecError]:
    """A service whose placement forbids `target`, or whose every function is placed elsewhere."""
    service = spec.placement
    if not service.allows(target):
        why = (f"the service's data_class is {service.data_class}" if service.data_class == "confidential"
               else f"placement.allowed_targets is {', '.join(service.allowed_targets or ())}")
        return [SpecError(f"refusing to deploy to {target}: {why}",
                          fix="deploy to docker or local (the private targets), or change `placement:` "
                              "if the data really may leave your infrastructure",
                          where=locate(("placement",)))]
    placed = [n for n in spec.functions if spec.placement_of(n).allows(target)]
    if not placed:
        return [SpecError(f"no function of this service may run on {target}",
                          fix="check each function's `placement:`", where=locate(("functions",)))]
    errors = []
    for name in placed:
        placement = spec.placement_of(name)
        if placement.data_class != "internal" or target not in PUBLIC_TARGETS:
            continue
        for index, trigger in enumerate(spec.functions[name].triggers):
            if isinstance(trigger.config, HttpTrigger) and trigger.config.auth == "none":
                errors.append(SpecError(
                    f"function {name!r} holds internal data but its HTTP trigger is public on {target}",
                    fix="set `auth: key` on the trigger, or keep the function on a private target",
                    where=locate(("functions", name, "triggers", index, "http", "auth"))))
    return errors


def _examples(target: str) -> str:
    return " or ".join(ex for s, (targets, ex) in SECRET_SCHEMES.items() if target in targets)
