#!/usr/bin/env python
"""Build time of one Lambda function with one dependency: multicloud against `serverless package`
(Serverless Framework v3 + serverless-python-requirements) and `sam build` (aws-sam-cli), same run,
same source, cold and warm. Prints figures and ratios; `--json` prints them as JSON too.

Peers live outside the repo and outside .venv:

    mkdir -p /work/bench-tools && cd /work/bench-tools && npm init -y && \
        npm install serverless@3 serverless-python-requirements@6
    python3 -m venv /work/samvenv && /work/samvenv/bin/pip install aws-sam-cli

Override their paths with SLS_BIN / SAM_BIN. A missing peer is reported (with these instructions) and
skipped; multicloud is always measured.

cold = no build output, no tool cache of the project, empty pip and uv download caches; warm = the same
command again, nothing changed (`sam build --cached` for SAM, its fastest warm mode). multicloud installs
dependencies with uv when it is installed (else pip; MULTICLOUD_INSTALLER=pip forces pip): the line
"installer" says which one ran.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HANDLER = '''
import six


def hello(event, context):
    return {"statusCode": 200, "body": six.ensure_str("hello")}
'''
REQUIREMENTS = "six==1.17.0\n"
SPEC = """\
service: benchsvc
runtime: python3.11
requirements: requirements.txt
functions:
  hello:
    handler: handler.hello
    triggers:
      - http: {path: /hello}
"""
SERVERLESS = """\
service: benchsvc
frameworkVersion: '3'
provider:
  name: aws
  runtime: python3.11
  region: us-east-1
functions:
  hello:
    handler: handler.hello
plugins:
  - serverless-python-requirements
custom:
  pythonRequirements:
    dockerizePip: false
    useDownloadCache: true
    useStaticCache: true
"""
SAM = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  HelloFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: handler.hello
      Runtime: python3.11
      Architectures: [x86_64]
"""
TOOLS_DIR = Path(os.environ.get("BENCH_TOOLS", "/work/bench-tools"))
INSTALL = {
    "serverless": "mkdir -p /work/bench-tools && cd /work/bench-tools && npm init -y && "
                  "npm install serverless@3 serverless-python-requirements@6",
    "sam": "python3 -m venv /work/samvenv && /work/samvenv/bin/pip install aws-sam-cli",
}


def sls_bin() -> str | None:
    env = os.environ.get("SLS_BIN")
    cand = Path(env) if env else TOOLS_DIR / "node_modules" / ".bin" / "serverless"
    if not cand.exists():
        return None
    if not (TOOLS_DIR / "node_modules" / "serverless-python-requirements").is_dir() and not env:
        return None
    return str(cand)


def sam_bin() -> str | None:
    env = os.environ.get("SAM_BIN")
    for cand in (env, "/work/samvenv/bin/sam", shutil.which("sam")):
        if cand and Path(cand).exists():
            return cand
    return None


def timed(fn: Callable[[], None]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")


# ---- the three builds ------------------------------------------------------------------------------
def multicloud_project(work: Path) -> tuple[Callable[[], None], Callable[[], None]]:
    root = work / "multicloud"
    root.mkdir()
    (root / "handler.py").write_text(HANDLER)
    (root / "requirements.txt").write_text(REQUIREMENTS)
    (root / "multicloud.yaml").write_text(SPEC)
    from multicloud.project import Project
    from multicloud.providers.aws import AwsProvider
    from multicloud.state import build_dir

    def build() -> None:
        project = Project.load(root)  # what `multicloud build --target aws` does: load, validate, build
        AwsProvider(project).build(build_dir(project, "aws"))

    def clean() -> None:
        shutil.rmtree(root / ".multicloud", ignore_errors=True)

    return build, clean


def serverless_project(work: Path, binary: str) -> tuple[Callable[[], None], Callable[[], None]]:
    root = work / "serverless"
    root.mkdir()
    (root / "handler.py").write_text(HANDLER)
    (root / "requirements.txt").write_text(REQUIREMENTS)
    (root / "serverless.yml").write_text(SERVERLESS)
    cache = work / "sls-cache"
    env = {"SLS_TELEMETRY_DISABLED": "1", "SLS_NOTIFICATIONS_MODE": "off", "SLS_DEPRECATION_DISABLE": "*",
           "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "XDG_CACHE_HOME": str(cache)}

    def build() -> None:
        run([binary, "package"], root, env)

    def clean() -> None:
        for path in (root / ".serverless", root / ".requirements", root / ".requirements.zip", cache):
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)

    return build, clean


def sam_project(work: Path, binary: str) -> tuple[Callable[[], None], Callable[[], None], Callable[[], None]]:
    root = work / "sam"
    (root / "src").mkdir(parents=True)
    (root / "src" / "handler.py").write_text(HANDLER)
    (root / "src" / "requirements.txt").write_text(REQUIREMENTS)
    (root / "template.yaml").write_text(SAM)
    env = {"SAM_CLI_TELEMETRY": "0"}

    def build() -> None:
        run([binary, "build", "--cached"], root, env)

    def cold() -> None:
        run([binary, "build"], root, env)

    def clean() -> None:
        shutil.rmtree(root / ".aws-sam", ignore_errors=True)

    return build, clean, cold


def measure(name: str, build: Callable[[], None], clean: Callable[[], None], repeat: int,
            cold_build: Callable[[], None] | None = None) -> dict[str, float]:
    colds, warms = [], []
    for _ in range(repeat):
        clean()
        # truly cold: empty pip and uv caches too (downloads from the index again), for every tool
        caches = Path(tempfile.mkdtemp(prefix="bench-cache-"))
        os.environ["PIP_CACHE_DIR"] = str(caches / "pip")
        os.environ["UV_CACHE_DIR"] = str(caches / "uv")
        colds.append(timed(cold_build or build))
        warms.append(min(timed(build) for _ in range(3)))
    result = {"cold_s": statistics.median(colds), "warm_s": statistics.median(warms)}
    print(f"  {name:<12} cold {result['cold_s']:7.3f} s   warm {result['warm_s']:7.3f} s", flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="cold+warm rounds per tool (median)")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    missing: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-aws-") as tmp:
        work = Path(tmp)
        print(f"build of one Lambda function with one dependency ({REQUIREMENTS.strip()}), "
              f"median of {args.repeat}:")
        from multicloud.providers.aws.deps import installer

        print(f"  installer used by multicloud: {installer()}")
        build, clean = multicloud_project(work)
        results["multicloud"] = measure("multicloud", build, clean, args.repeat)
        sls = sls_bin()
        if sls:
            build, clean = serverless_project(work, sls)
            results["serverless"] = measure("serverless", build, clean, args.repeat)
        else:
            missing.append("serverless")
        sam = sam_bin()
        if sam:
            build, clean, cold = sam_project(work, sam)
            results["sam"] = measure("sam", build, clean, args.repeat, cold_build=cold)
        else:
            missing.append("sam")
    mc = results["multicloud"]
    for peer in ("serverless", "sam"):
        if peer in results:
            r = results[peer]
            print(f"  multicloud vs {peer:<10}: {r['cold_s'] / mc['cold_s']:6.1f}x faster cold, "
                  f"{r['warm_s'] / mc['warm_s']:6.1f}x faster warm")
    peers = [p for p in ("serverless", "sam") if p in results]
    goal_cold = all(results[p]["cold_s"] / mc["cold_s"] >= 5 for p in peers)
    verdict = ("not measured (no peer installed)" if not peers else "met" if goal_cold else "NOT met")
    print(f"  goal: >=5x faster than {' and '.join(peers) or 'the peers'} cold: {verdict}; "
          f"warm unchanged under 0.3 s: {'met' if mc['warm_s'] < 0.3 else 'NOT met'} ({mc['warm_s']:.3f} s)")
    for peer in missing:
        print(f"  {peer}: not installed, skipped. Install it with:\n    {INSTALL[peer]}")
    if args.json:
        print(json.dumps({"results": results, "missing": missing}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
