"""Hostile and broken specs: wall time and peak memory of the real `multicloud` process, per command.

Every command that loads a spec must refuse a hostile one (alias bomb, deep nesting, huge numbers,
recursive aliases, very long values, very wide specs) and every spec of the broken corpus
(tests/specs/bad) with exit 2 within 2 s and under 100 MB. The ceiling is the peer here: each line
prints its ratio to it (below 1.00 is within). Peak memory is the child's own max RSS (os.wait4), so
one run measures one process. Usage:

    python bench/hostile_specs.py [--commands validate,deploy,...] [--corpus-command validate]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "specs"))
from hostile import HOSTILE, write_all  # noqa: E402

CEILING_S = 2.0
CEILING_MB = 100.0
COMMANDS = ("validate", "build", "plan", "deploy", "invoke", "logs", "status", "remove", "rollback", "export",
            "unlock", "move", "dev", "send", "dead-letters", "dashboard")
EXTRA_ARGS = {"remove": ["--yes"], "move": ["--from", "local", "--to", "docker"], "invoke": ["-t", "local"],
              "logs": ["-t", "local"], "status": ["-t", "local"], "rollback": ["-t", "local"],
              "unlock": ["-t", "local"], "export": ["-t", "local"], "send": ["-t", "local", "--queue", "q", "-d", "x"],
              "dead-letters": ["-t", "local"], "dashboard": ["--port", "0"]}


def measure(args: list[str]) -> tuple[int, float, float]:
    """(exit code, seconds, peak RSS in MB) of one `python -m multicloud ...` process."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "multicloud", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "CI": "true"})
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, elapsed, usage.ru_maxrss / 1024


def report(label: str, code: int, seconds: float, mb: float) -> bool:
    ok = code == 2 and seconds < CEILING_S and mb < CEILING_MB
    print(f"{label:52} exit {code}  {seconds:5.2f} s ({seconds / CEILING_S:4.2f} of 2 s)  "
          f"{mb:6.1f} MB ({mb / CEILING_MB:4.2f} of 100 MB){'' if ok else '  <-- OVER'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commands", default=",".join(COMMANDS))
    parser.add_argument("--corpus-command", default="validate")
    args = parser.parse_args()
    worst = (0.0, 0.0)
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        folders = write_all(tmp)
        for name in HOSTILE:
            for command in args.commands.split(","):
                code, seconds, mb = measure([command, str(folders[name]), *EXTRA_ARGS.get(command, [])])
                failures += not report(f"{name} / {command}", code, seconds, mb)
                worst = (max(worst[0], seconds), max(worst[1], mb))
    corpus = sorted((ROOT / "tests" / "specs" / "bad").glob("*.yaml"))
    for spec in corpus:
        code, seconds, mb = measure([args.corpus_command, str(spec)])
        expected = 1 if "expect: exit=1" in spec.read_text(errors="replace")[:200] else 2
        failures += not report(f"bad/{spec.stem} / {args.corpus_command}", 2 if code == expected else code,
                               seconds, mb)
        worst = (max(worst[0], seconds), max(worst[1], mb))
    print(f"worst: {worst[0]:.2f} s ({worst[0] / CEILING_S:.2f} of the ceiling), {worst[1]:.1f} MB "
          f"({worst[1] / CEILING_MB:.2f} of the ceiling); {failures} over")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
