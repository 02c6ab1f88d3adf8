"""Hostile specs shared by tests/unit/cli/test_hostile_specs.py and bench/hostile_specs.py.

name -> (spec text, line of the expected error, text the error must contain). Generated, not checked in:
the deep-nesting one is 100 kB.
"""

from __future__ import annotations

BOMB = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9) if i else ', '.join(['lol'] * 9)}]\n"
               for i in range(10))
HOSTILE: dict[str, tuple[str, int, str]] = {
    "alias-bomb": ("service: bomb\nfunctions: {a: {handler: h.m}}\n" + BOMB, 7, "YAML nodes"),
    "deep-nesting": ("service: deep\nfunctions: {a: {handler: h.m, env: " + "[" * 50_000 + "]" * 50_000 + "}}\n",
                     2, "nests deeper"),
    "huge-number": ("service: n\nfunctions:\n  a:\n    handler: h.m\n    memory: " + "9" * 50_000 + "\n", 5,
                    "a number of 50000 characters"),
    "recursive-alias": ("service: r\nfunctions: &f {a: {handler: h.m, env: *f}}\n", 2, "cycle"),
    "long-value": ("service: v\nfunctions: {a: {handler: h.m, env: {A: " + "x" * 200_000 + "}}}\n", 2,
                   "a value of 200000 characters"),
    "wide-spec": ("service: w\nfunctions:\n  a:\n    handler: h.m\n    env:\n"
                  + "".join(f"      V{i}: x\n" for i in range(30_000)), 10_000, "more than 20000 YAML nodes"),
}


def write_all(root: object) -> dict[str, object]:
    """One folder per hostile spec (with the handler module it names) under `root`; name -> folder."""
    from pathlib import Path

    out: dict[str, object] = {}
    for name, (text, _line, _what) in HOSTILE.items():
        folder = Path(str(root)) / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "h.py").write_text("def m(event, context):\n    return 1\n")
        (folder / "multicloud.yaml").write_text(text)
        out[name] = folder
    return out
