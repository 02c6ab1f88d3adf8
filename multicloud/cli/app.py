"""The `multicloud` command line: the only layer that prints, prompts and picks exit codes.

`multicloud.cli.base` holds the Typer app and what commands share (including `run`, the one place that
maps errors to exit codes: 0 success, 1 an operation failed, 2 bad input or spec, 3 unsupported); each
module under `multicloud.cli.commands` registers one group of commands. Importing this module registers
them all, in the order `--help` lists them.
"""

from __future__ import annotations

import sys
from importlib import import_module

from multicloud.cli.base import app

# Registration order is the order `multicloud --help` lists the commands in.
COMMAND_MODULES = ("spec", "lifecycle", "operate", "events", "clients", "dashboard", "convert", "engine")
for _name in COMMAND_MODULES:
    import_module(f"multicloud.cli.commands.{_name}")

__all__ = ["app", "hoist_global_options", "main"]


GLOBAL_VALUE_OPTS = ("--output", "-o")
GLOBAL_FLAGS = ("--quiet", "-q")


def hoist_global_options(argv: list[str]) -> list[str]:
    """Let `--output json` / `--quiet` stand anywhere, as users type them (`multicloud deploy -o json`)."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest += argv[i:]
            break
        if arg in GLOBAL_VALUE_OPTS and i + 1 < len(argv):
            front += [arg, argv[i + 1]]
            i += 2
            continue
        if arg.startswith("--output=") or arg in GLOBAL_FLAGS:
            front.append(arg)
        else:
            rest.append(arg)
        i += 1
    return front + rest


def main() -> None:
    app(args=hoist_global_options(sys.argv[1:]), prog_name="multicloud")
