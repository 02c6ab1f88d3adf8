"""YAML -> `Spec`, with every error located at its YAML node.

PyYAML composes a node tree first so each key and value keeps its line and column; pydantic then
validates the plain data and its error locations are mapped back onto the nodes. The loader never lets
another exception escape: any input gives a `Spec` or a `SpecErrors`.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from multicloud.errors import Location, SpecError, SpecErrors
from multicloud.spec.models import ENV_NAME_RE, FUNCTION_RE, NAME_RE, Spec

Path_ = tuple[str | int, ...]
SPEC_FILENAMES = ("multicloud.yaml", "multicloud.yml")
MAX_SPEC_BYTES = 1_000_000
MAX_DEPTH = 32  # a spec nests about 8 deep; YAML deeper than this is a mistake or an attack
MAX_NODES = 20_000  # after alias expansion; a large real spec (200 functions) has about 10,000
MAX_SCALAR_CHARS = 10_000  # one value
MAX_NUMBER_CHARS = 100  # no setting takes a longer number; Python refuses ints over 4300 digits anyway
#: libyaml's parser when PyYAML was built with it (its wheels are): ~30x faster, so a 1 MB spec loads in
#: well under a second; the pure-Python one otherwise.
LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
PRECISE_ERRORS_CHARS = 64_000  # a broken spec this small is parsed again by the pure-Python loader (~0.3 s)
_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


class Marks:
    """Line/column of every key and value, by field path."""

    def __init__(self) -> None:
        self.keys: dict[Path_, tuple[int, int]] = {}
        self.values: dict[Path_, tuple[int, int]] = {}

    def find(self, path: Path_, *, key: bool = False) -> tuple[int, int] | None:
        table = self.keys if key else self.values
        for end in range(len(path), -1, -1):
            mark = table.get(path[:end]) or self.values.get(path[:end])
            if mark:
                return mark
        return None

    def locate(self, filename: str, path: Path_, *, key: bool = False) -> Location:
        mark = self.find(path, key=key)
        line, col = mark if mark else (None, None)
        return Location(filename, line, col, _dotted(path) or None)


def resolve_spec_path(path: Path | str) -> Path:
    p = Path(path)
    if p.is_dir() and p.name in SPEC_FILENAMES and not any((p / n).is_file() for n in SPEC_FILENAMES):
        raise SpecError(f"{p.name} is a directory, not the spec file",
                        fix=f"remove or rename the directory and write the spec as the file {p}", where=str(p))
    if p.is_dir():
        for name in SPEC_FILENAMES:
            if (p / name).is_file():
                return p / name
        for name in SPEC_FILENAMES:  # there, but not a file: say what it is rather than "not found"
            if (p / name).exists() or (p / name).is_symlink():
                return p / name
        raise SpecError(
            f"no multicloud.yaml in {p}", fix="run `multicloud init NAME` or pass the spec file's path", where=str(p)
        )
    return p


def load_spec(path: Path | str) -> tuple[Spec, Path]:
    """Load and validate a spec file (or a folder holding `multicloud.yaml`)."""
    spec, spec_path, _marks = load_spec_located(path)
    return spec, spec_path


def load_spec_located(path: Path | str) -> tuple[Spec, Path, Marks]:
    """Like `load_spec`, also returning where each field sits, for later located errors."""
    spec_path = resolve_spec_path(path)
    spec, marks = parse_spec_located(read_spec_bytes(spec_path), str(spec_path))
    return spec, spec_path, marks


def read_spec_bytes(path: Path) -> bytes:
    """The spec's bytes, read only from a regular file and at most MAX_SPEC_BYTES + 1 of them: a FIFO, a
    device (`/dev/zero`), a directory or a link loop is a clear error, never a hang or a memory blow-up."""
    import os
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError as exc:
        raise SpecError("spec file not found", fix="check the path, or run `multicloud init NAME`",
                        where=str(path)) from exc
    except OSError as exc:
        raise SpecError(f"cannot read the spec: {exc.strerror}", fix="check the file, its links and permissions",
                        where=str(path)) from exc
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise SpecError(f"{path.name} is a directory, not the spec file",
                            fix="write the spec as a file (or pass the folder that holds it)", where=str(path))
        if not stat.S_ISREG(mode):
            raise SpecError("the spec is not a regular file (a pipe, socket or device)",
                            fix="point at the multicloud.yaml file itself", where=str(path))
        with os.fdopen(os.dup(fd), "rb") as fh:
            return fh.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise SpecError(f"cannot read the spec: {exc.strerror}", where=str(path)) from exc
    finally:
        os.close(fd)


def decode_spec(raw: bytes, filename: str) -> str:
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError("spec file is over 1 MB", fix="keep the spec small; ship data as files", where=filename)
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):  # what Windows editors call "Unicode"
        raise SpecError("UTF-16 text (it starts with a UTF-16 byte order mark)",
                        fix="save the file as UTF-8 (in the editor's encoding menu)", where=filename)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"not UTF-8 text (byte {exc.start})", fix="save the file as UTF-8", where=filename) from exc


def parse_spec(raw: bytes | str, filename: str = "multicloud.yaml") -> Spec:
    return parse_spec_located(raw, filename)[0]


def parse_spec_located(raw: bytes | str, filename: str = "multicloud.yaml") -> tuple[Spec, Marks]:
    text = decode_spec(raw, filename) if isinstance(raw, bytes) else raw
    data, marks = _compose(text, filename)
    if not isinstance(data, dict):
        line, col = marks.values.get((), (1, 1))
        raise SpecError(
            "the spec must be a mapping with at least `service:` and `functions:`",
            fix="start from `multicloud init NAME` or the README's spec reference",
            where=Location(filename, line, col),
        )
    try:
        return Spec.model_validate(data), marks
    except ValidationError as exc:
        found = exc.errors()
        # A list whose every item was refused is also reported "too short": the items' errors say it better.
        inner = {tuple(e["loc"][:n]) for e in found for n in range(len(e["loc"]))}
        found = [e for e in found if not (e["type"] == "too_short" and tuple(e["loc"]) in inner)]
        errors = sorted(found, key=lambda e: e["type"] == "missing")  # a misspelt key before its "missing"
        raise SpecErrors([_to_spec_error(err, marks, filename) for err in errors]) from None


def check_bounded(text: str, filename: str, loader_class: Any = LOADER, *, max_nodes: int = MAX_NODES,
                  max_depth: int = MAX_DEPTH, max_scalar: int = MAX_SCALAR_CHARS) -> None:
    """Reject, before anything is built from it, YAML that would nest too deep or expand too far.

    One pass over PyYAML's event stream (iterative, so it cannot overflow the stack) tracks the nesting
    depth and the size each node has once its aliases are expanded (an alias costs the size of what it
    names), so a "billion laughs" document is refused at the alias that crosses the limit, with its line,
    in microseconds instead of being expanded. An alias inside the node it names (a cycle) is refused too.
    The limits default to a spec's; `multicloud import` passes wider ones for serverless.yml, whose
    CloudFormation `resources:` are legitimately larger.
    """
    sizes: dict[str, int] = {}  # anchor -> expanded size of its node, once the node is complete
    open_anchors: list[str | None] = []
    counts: list[int] = [0]  # expanded size of each open collection (index 0: the document)
    resolver = yaml.resolver.Resolver()

    def fail(what: str, fix: str, event: yaml.Event) -> SpecError:
        mark = event.start_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        return SpecError(what, fix=fix, where=Location(filename, line, col))

    for event in yaml.parse(text, Loader=loader_class):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            if len(counts) > max_depth:
                raise fail(f"YAML nests deeper than {max_depth} levels", "flatten the document", event)
            counts.append(1)
            open_anchors.append(event.anchor)
            continue
        if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            size = counts.pop()
            anchor = open_anchors.pop()
            if anchor is not None:
                sizes[anchor] = size
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor in open_anchors:
                raise fail(f"alias *{event.anchor} refers to the node that contains it (a cycle)",
                           "replace the alias with the values it should repeat", event)
            size = sizes.get(str(event.anchor), 1)
        elif isinstance(event, yaml.ScalarEvent):
            tag = (resolver.resolve(yaml.ScalarNode, event.value, event.implicit)  # type: ignore[no-untyped-call]
                   if len(event.value) > MAX_NUMBER_CHARS else None)
            if tag in _NUMBER_TAGS:
                raise fail(f"a number of {len(event.value)} characters", "no setting takes a number this long; "
                           "quote it if it is meant as text", event)
            if len(event.value) > max_scalar:
                raise fail(f"a value of {len(event.value)} characters (at most {max_scalar})",
                           "shorten it; ship large data as a file beside the spec", event)
            size = 1
            if event.anchor is not None:
                sizes[event.anchor] = 1
        else:
            continue
        counts[-1] += size
        if sum(counts) > max_nodes:
            if isinstance(event, yaml.AliasEvent):
                raise fail(f"the document expands to more than {max_nodes} YAML nodes (aliases such as this one "
                           "repeat whole subtrees)", "write the repeated parts out without alias chains", event)
            raise fail(f"the document has more than {max_nodes} YAML nodes",
                       "split it: a service this large belongs in several specs", event)


def _compose(text: str, filename: str, loader_class: Any = LOADER) -> tuple[Any, Marks]:
    marks = Marks()
    try:
        check_bounded(text, filename, loader_class)
        loader = loader_class(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None, marks
            _walk(node, (), marks, filename)
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        if "maximum nesting depth" in str(exc.problem):  # libyaml's own limit, met while scanning ahead
            mark = exc.problem_mark
            raise SpecError(f"YAML nests deeper than {MAX_DEPTH} levels", fix="flatten the document",
                            where=Location(filename, mark.line + 1 if mark else None,
                                           mark.column + 1 if mark else None)) from None
        if loader_class is not yaml.SafeLoader and len(text) <= PRECISE_ERRORS_CHARS:
            return _compose(text, filename, yaml.SafeLoader)  # its messages point where the mistake starts
        mark = exc.problem_mark or exc.context_mark
        at_end = any(p in (exc.problem or "") for p in ("<stream end>", "end of the stream", "end of stream"))
        if at_end and exc.context_mark is not None:
            mark = exc.context_mark  # an unclosed bracket or quote: point at where it opened
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        what = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        if at_end and exc.context_mark is not None:
            what += " (it opens here and is never closed)"
        raise SpecError(
            f"invalid YAML: {what}",
            fix="check indentation, colons and quotes near this position",
            where=Location(filename, line, col),
        ) from None
    except yaml.reader.ReaderError as exc:  # a character YAML forbids (NUL, other control characters)
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        code = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "\0")
        raise SpecError(f"invalid YAML: the control character U+{code:04X} is not allowed in a YAML file",
                        fix="remove it (a binary file, or text pasted with control characters?)",
                        where=Location(filename, line, col)) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"invalid YAML: {exc}", fix="check the file's syntax", where=filename) from None
    except RecursionError:
        raise SpecError("YAML nests too deeply", fix="flatten the document", where=filename) from None
    except (ValueError, OverflowError, TypeError) as exc:  # a value PyYAML's constructors cannot build
        raise SpecError(f"invalid YAML value: {exc}", fix="check the values' syntax", where=filename) from None
    return data, marks


def _walk(node: yaml.Node, path: Path_, marks: Marks, filename: str) -> None:
    marks.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            if key == "<<":
                continue
            if key in seen:
                raise SpecError(
                    f"duplicate key {key!r}",
                    fix="keep one of them; YAML would silently use the last",
                    where=Location(filename, key_node.start_mark.line + 1, key_node.start_mark.column + 1,
                                   _dotted(path + (key,))),
                )
            seen.add(key)
            marks.keys[path + (key,)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _walk(value_node, path + (key,), marks, filename)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, path + (index,), marks, filename)


def _dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# pydantic error type -> how to fix it
_FIXES: dict[str, str] = {
    "missing": "add this field",
    "int_type": "use a whole number",
    "int_parsing": "use a whole number",
    "int_from_float": "use a whole number",
    "float_type": "use a number",
    "float_parsing": "use a number",
    "bool_type": "use true or false",
    "bool_parsing": "use true or false",
    "string_type": "use a string (quote it if YAML reads it as another type)",
    "dict_type": "use a mapping (key: value lines)",
    "tuple_type": "use a list (- item lines or [a, b])",
    "list_type": "use a list (- item lines or [a, b])",
    "string_pattern_mismatch": "match the pattern shown",
    "too_short": "add at least one entry",
    "greater_than_equal": "raise the value",
    "less_than_equal": "lower the value",
    "greater_than": "raise the value",
    "string_too_short": "make it longer",
    "string_too_long": "shorten it",
    "finite_number": "use a finite number",
    "model_type": "use a mapping (key: value lines)",
    "model_attributes_type": "use a mapping (key: value lines)",
}


# a pattern the model uses -> what it means, for messages that would otherwise quote the regex
_PATTERNS: dict[str, tuple[str, str]] = {
    NAME_RE: ("is not a service name", "use lower-case ASCII letters, digits and dashes, starting with a letter, at "
              "most 40 characters (e.g. my-api)"),
    FUNCTION_RE: ("is not a function name", "use lower-case ASCII letters, digits, _ and -, starting with a letter, "
                  "at most 40 characters (e.g. hello or get-order)"),
    ENV_NAME_RE: ("is not an environment variable name", "use ASCII letters, digits and underscores, not starting "
                  "with a digit (e.g. API_URL)"),
}


def _ascii_hint(name: str) -> str:
    odd = [c for c in name if not c.isascii()]
    return f" (it holds the non-ASCII character {odd[0]!r}, U+{ord(odd[0]):04X})" if odd else ""


def _to_spec_error(err: Any, marks: Marks, filename: str) -> SpecError:
    loc: Path_ = tuple(p for p in err["loc"] if p != "[key]")
    is_key = "[key]" in err["loc"]
    kind: str = err["type"]
    field = _dotted(loc) or "(top level)"
    secret = "secrets" in loc
    msg: str = err["msg"].removeprefix("Value error, ")
    fix = _FIXES.get(kind)
    if kind == "value_error" and " Fix: " in msg:  # a model validator's own fix
        msg, fix = msg.split(" Fix: ", 1)
    if kind == "string_pattern_mismatch":
        pattern = (err.get("ctx") or {}).get("pattern", "")
        what, fix = _PATTERNS.get(pattern, (f"does not match {pattern}", "match the pattern shown"))
        name = str(loc[-1]) if is_key else str(err.get("input"))
        msg = f"{'key ' if is_key else ''}{name!r} {what}{_ascii_hint(name)}"
    elif kind == "extra_forbidden" or is_key:
        name = str(loc[-1]) if loc else "?"
        allowed = _allowed_keys(loc[:-1]) if kind == "extra_forbidden" else _literal_choices(err)
        msg = f"unknown key {name!r}{_ascii_hint(name)}"
        close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
        if close:
            fix = f"did you mean {close[0]!r}? Allowed here: {', '.join(allowed)}"
        elif allowed:
            fix = f"remove it; allowed here: {', '.join(allowed)}"
        else:
            fix = "remove it"
    elif kind == "literal_error":
        choices = _literal_choices(err)
        got = err.get("input")
        close = difflib.get_close_matches(str(got), choices, n=1, cutoff=0.6) if choices else []
        fix = (f"did you mean {close[0]!r}? " if close else "") + f"use one of: {', '.join(choices)}"
        msg = f"{got!r} is not allowed"
    elif kind == "missing":
        msg = f"required field {str(loc[-1])!r} is missing" if loc else "required field missing"
        fix = f"add `{loc[-1]}:`" if loc else fix
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        got = err.get("input")
        msg = f"should be a mapping (key: value lines), not {_kind_of(got)}"
        if len(loc) == 2 and loc[0] == "functions" and isinstance(got, str):
            fix = f"write it as a mapping: `{loc[1]}: {{handler: {got}}}`"
    elif not secret and kind not in ("value_error",) and "input" in err and _short(err["input"]):
        msg = f"{msg} (got {err['input']!r})"
    line_col = marks.find(loc, key=(kind == "extra_forbidden" or is_key))
    line, col = line_col if line_col else (None, None)
    return SpecError(msg, fix=fix, where=Location(filename, line, col, field))


def _kind_of(value: Any) -> str:
    if isinstance(value, str):
        return f"the text {value!r}" if _short(value) else "a text"
    if isinstance(value, (list, tuple)):
        return "a list"
    return "nothing" if value is None else f"the value {value!r}" if _short(value) else type(value).__name__


def _short(value: Any) -> bool:
    return isinstance(value, (int, float, str, bool)) and len(repr(value)) <= 60


def _literal_choices(err: Any) -> list[str]:
    expected = (err.get("ctx") or {}).get("expected", "")
    return [c.strip().strip("'") for c in expected.replace(" or ", ", ").split(",") if c.strip()]


def _allowed_keys(loc: Path_) -> list[str]:
    model = _model_at(loc)
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _model_at(loc: Path_) -> type[BaseModel] | None:
    current: Any = Spec
    for part in loc:
        current = _step(current, part)
        if current is None:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _step(tp: Any, part: str | int) -> Any:
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        field = tp.model_fields.get(str(part))
        return field.annotation if field else None
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is dict and args:
        return args[1]
    if origin in (list, tuple) and args:
        return args[0]
    return None


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
            tp = models[0] if models else members[0]
        else:
            return tp


def iter_errors(exc: SpecError) -> Iterator[SpecError]:
    if isinstance(exc, SpecErrors):
        yield from exc.errors
    else:
        yield exc
