"""Command-line entry point (`multicloud`)."""

from __future__ import annotations


def main() -> None:
    from multicloud.cli.app import main as _main

    _main()
