"""Shared helpers for benches: timing commands and finding (or installing) peer tools.

Peers are installed outside the project's environment (they pin conflicting versions):
aws-sam-cli into its own venv, Serverless Framework v3 with npm. `--install-peers` does it.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

CACHE = Path(os.environ.get("MULTICLOUD_BENCH_TOOLS", Path.home() / ".cache" / "multicloud-bench"))


def time_command(cmd: list[str], runs: int, warmup: int = 1, **kw: object) -> list[float]:
    for _ in range(warmup):
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, **kw)  # type: ignore[call-overload]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, **kw)  # type: ignore[call-overload]
        times.append(time.perf_counter() - start)
    return times


def summary(times: list[float]) -> str:
    return f"median {statistics.median(times) * 1000:7.1f} ms  min {min(times) * 1000:7.1f} ms  (n={len(times)})"


def sam_executable(install: bool) -> str | None:
    for candidate in (CACHE / "samvenv" / "bin" / "sam", Path("/work/samvenv/bin/sam")):
        if candidate.exists():
            return str(candidate)
    found = shutil.which("sam")
    if found or not install:
        return found
    venv = CACHE / "samvenv"
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "aws-sam-cli"], check=True)
    return str(venv / "bin" / "sam")


def serverless_executable(install: bool) -> str | None:
    for candidate in (CACHE / "npm" / "node_modules" / ".bin" / "serverless",
                      Path("/work/bench-tools/node_modules/.bin/serverless")):
        if candidate.exists():
            return str(candidate)
    if not install:
        return shutil.which("serverless")
    prefix = CACHE / "npm"
    prefix.mkdir(parents=True, exist_ok=True)
    subprocess.run(["npm", "install", "--prefix", str(prefix), "serverless@3"], check=True,
                   stdout=subprocess.DEVNULL)
    return str(prefix / "node_modules" / ".bin" / "serverless")
