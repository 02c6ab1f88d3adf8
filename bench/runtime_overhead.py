"""How much the portable runtime costs a Lambda function, measured against a raw handler and against
aws-lambda-powertools' APIGatewayHttpResolver in the same run.

1. Import time of the AWS shim, from the files an artifact vendors (`multicloud.vendor.runtime_files`),
   in fresh interpreters (`python -S -E`, so the dev venv's site hooks are not counted): wall-clock
   difference against an empty interpreter, and `-X importtime`'s own figure. Powertools' resolver
   import is measured the same way (it needs site-packages, so without -S).
2. Per-invocation cost of one HTTP API v2 event (aws-sam-cli's sample, tests/events/aws) through
   `multicloud.runtime.aws.entry`, against a raw handler that builds the same response by hand, and
   against powertools' resolver routing the same event to the same function.

Usage: python bench/runtime_overhead.py [--runs N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVENT = ROOT / "tests" / "events" / "aws" / "apigw-http-api-v2.json"
GOALS = {"import_ms": 15.0, "overhead_us": 25.0}

APP = '''
import json

def handler(event, context):
    return {"ok": True, "path": event.http.path}

def raw(event, context):
    # what one writes without any framework: parse nothing, answer the API Gateway shape by hand
    body = json.dumps({"ok": True, "path": event["rawPath"]}, separators=(",", ":"))
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": body,
            "isBase64Encoded": False}
'''

POWERTOOLS_APP = '''
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

app = APIGatewayHttpResolver()

@app.post("/path/to/resource")
def resource():
    return {"ok": True, "path": app.current_event.raw_path}
'''


class LambdaContext:
    function_name = "bench"
    memory_limit_in_mb = "128"
    aws_request_id = "bench-request"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:bench"

    def get_remaining_time_in_millis(self) -> int:
        return 3000


def vendor(dest: Path) -> None:
    from multicloud.vendor import runtime_files

    for arc, src in runtime_files().items():
        target = dest / arc
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(src.read_bytes())
    (dest / "bench_app.py").write_text(APP)
    (dest / "pt_app.py").write_text(POWERTOOLS_APP)


def _wall(python: list[str], code: str, cwd: Path, runs: int) -> float:
    """Median wall-clock of `code` in fresh interpreters, timed inside the process (startup excluded)."""
    times = []
    for _ in range(runs):
        timed = f"import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"
        out = subprocess.run([*python, "-c", timed], cwd=cwd, capture_output=True, text=True, check=True)
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times) * 1000


def _importtime(python: list[str], code: str, cwd: Path, top: str, runs: int) -> float:
    """Median of `-X importtime`'s cumulative figure summed over the top-level `top.*` entries."""
    figures = []
    for _ in range(runs):
        out = subprocess.run([python[0], "-X", "importtime", *python[1:], "-c", code], cwd=cwd,
                             capture_output=True, text=True, check=True)
        total = 0
        for line in out.stderr.splitlines():
            parts = line.split("|")
            if len(parts) != 3 or not parts[1].strip().isdigit():
                continue
            name = parts[2][1:]  # nesting shows as two spaces per level after "| "
            if not name.startswith(" ") and name.split(".")[0] == top:
                total += int(parts[1])
        figures.append(total)
    return statistics.median(figures) / 1000


def has_powertools() -> bool:
    import importlib.util

    return importlib.util.find_spec("aws_lambda_powertools") is not None


PEER_MISSING = ("aws-lambda-powertools is not installed: its figures are skipped. Install it with "
                "`pip install 'multicloud[bench]'` (or `pip install aws-lambda-powertools`) to compare")


def import_times(work: Path, runs: int, peer_present: bool) -> dict[str, float]:
    path = "import sys; sys.path.insert(0, '.')"
    bare = [sys.executable, "-S", "-E"]
    site = [sys.executable, "-E"]
    shim = "import multicloud.runtime.aws"
    peer = "import aws_lambda_powertools.event_handler"
    event = json.dumps(json.loads(EVENT.read_text()))
    first_ours = (f"{shim}; from multicloud.runtime.aws import entry; import json; "
                  f"entry('bench_app.handler', 'bench')(json.loads({event!r}), None)")
    first_peer = (f"import json; import pt_app; "
                  f"pt_app.app.resolve(json.loads({event!r}), __import__('types').SimpleNamespace())")
    figures = {
        # json is imported lazily by the runtime (it pulls in re); the cold figures include it
        "shim_cold_first_call_ms": _wall(bare, f"{path}; {first_ours}", work, runs),
        "shim_import_ms": _wall(bare, f"{path}; {shim}", work, runs),
        "shim_importtime_ms": _importtime(bare, f"{path}; {shim}", work, "multicloud", runs),
    }
    if peer_present:
        figures.update({
            "powertools_cold_first_call_ms": _wall(site, f"{path}; {first_peer}", work, runs),
            "powertools_import_ms": _wall(site, f"{path}; {peer}", work, runs),
            "powertools_importtime_ms": _importtime(site, f"{path}; {peer}", work, "aws_lambda_powertools", runs),
        })
    return figures


CONTAINER_SCRIPT = r"""
import statistics, subprocess, sys
code = "import time; t = time.perf_counter(); import multicloud.runtime.aws; print(time.perf_counter() - t)"
times = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                               check=True).stdout) for _ in range(RUNS)]
print(statistics.median(times) * 1000)
"""


def container_import(work: Path, runs: int) -> dict[str, float]:
    """The same import in the air-gapped base image's own python3 (Debian, no venv), if it is built."""
    try:
        import docker

        client = docker.from_env()
        client.images.get("multicloud/python:3.11-bookworm")
    except Exception:  # no Docker SDK, no engine or no image: this figure is optional
        return {}
    out = client.containers.run(
        "multicloud/python:3.11-bookworm", ["python3", "-c", CONTAINER_SCRIPT.replace("RUNS", str(runs))],
        working_dir="/var/task", volumes={str(work): {"bind": "/var/task", "mode": "ro"}},
        environment={"PYTHONPATH": "/var/task", "PYTHONDONTWRITEBYTECODE": "1"}, network_disabled=True,
        remove=True, labels={"multicloud.bench": "runtime-overhead"},
    )
    return {"container_shim_import_ms": float(out.decode().strip().splitlines()[-1])}


def per_invocation(work: Path, number: int, peer_present: bool) -> dict[str, float]:
    sys.path.insert(0, str(work))
    os.environ.setdefault("POWERTOOLS_DEV", "false")
    import bench_app

    from multicloud.runtime.aws import entry

    event = json.loads(EVENT.read_text())
    event["isBase64Encoded"], event["body"] = False, '{"test":"body"}'
    ctx = LambdaContext()
    ours = entry("bench_app.handler", "bench")
    raw = bench_app.raw
    assert ours(event, ctx)["body"] == raw(event, ctx)["body"], "shim and raw handler disagree"

    def best(fn) -> float:
        timer = timeit.Timer(lambda: fn(event, ctx))
        return min(timer.repeat(repeat=7, number=number)) / number * 1e6

    results = {"raw_us": best(raw), "multicloud_us": best(ours)}
    results["multicloud_overhead_us"] = results["multicloud_us"] - results["raw_us"]
    if peer_present:
        import pt_app

        peer = pt_app.app.resolve
        assert json.loads(peer(event, ctx)["body"]) == json.loads(raw(event, ctx)["body"])
        results["powertools_us"] = best(peer)
        results["powertools_overhead_us"] = results["powertools_us"] - results["raw_us"]
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="fresh interpreters per import figure")
    parser.add_argument("--number", type=int, default=5000, help="invocations per timing repeat")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    peer_present = has_powertools()
    if not peer_present:
        print(PEER_MISSING, file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="mc-bench-") as tmp:
        work = Path(tmp)
        vendor(work)
        # first, while no __pycache__ exists: the container compiles the sources on every start
        figures = {**container_import(work, args.runs), **import_times(work, args.runs, peer_present),
                   **per_invocation(work, args.number, peer_present)}
    figures["overhead_ratio_vs_raw"] = figures["multicloud_us"] / figures["raw_us"]
    verdict = {
        "import under 15 ms": figures["shim_import_ms"] < GOALS["import_ms"],
        "overhead under 25 us": figures["multicloud_overhead_us"] < GOALS["overhead_us"],
    }
    if peer_present:
        figures["powertools_ratio_vs_raw"] = figures["powertools_us"] / figures["raw_us"]
        figures["powertools_overhead_over_ours"] = (figures["powertools_overhead_us"]
                                                    / figures["multicloud_overhead_us"])
        verdict["overhead below powertools"] = figures["multicloud_overhead_us"] < figures["powertools_overhead_us"]
    if args.json:
        print(json.dumps({"figures": figures, "goals_met": verdict, "peer_missing": not peer_present}, indent=2))
    else:
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpu(s)")
        print(f"import multicloud.runtime.aws (vendored, .pyc cached, python -S): "
              f"{figures['shim_import_ms']:.2f} ms wall, "
              f"{figures['shim_importtime_ms']:.2f} ms by -X importtime")
        if "container_shim_import_ms" in figures:
            print(f"import multicloud.runtime.aws in the base image's python3, compiling (no .pyc): "
                  f"{figures['container_shim_import_ms']:.2f} ms wall")
        if peer_present:
            print(f"import aws_lambda_powertools.event_handler:           "
                  f"{figures['powertools_import_ms']:.2f} ms wall, "
                  f"{figures['powertools_importtime_ms']:.2f} ms by -X importtime")
        print(f"cold start, import + first HTTP API v2 call: multicloud {figures['shim_cold_first_call_ms']:.2f} ms "
              f"(python -S)" + (f", powertools {figures['powertools_cold_first_call_ms']:.2f} ms"
                                if peer_present else ""))
        print(f"HTTP API v2 event, raw handler:          {figures['raw_us']:.2f} us")
        print(f"HTTP API v2 event, multicloud AWS shim:  {figures['multicloud_us']:.2f} us "
              f"(overhead {figures['multicloud_overhead_us']:.2f} us, x{figures['overhead_ratio_vs_raw']:.2f})")
        if peer_present:
            print(f"HTTP API v2 event, powertools resolver:  {figures['powertools_us']:.2f} us "
                  f"(overhead {figures['powertools_overhead_us']:.2f} us, x{figures['powertools_ratio_vs_raw']:.2f})")
            print(f"powertools overhead / multicloud overhead: x{figures['powertools_overhead_over_ours']:.2f}")
        else:
            print(f"powertools: not measured ({PEER_MISSING})")
        for goal, met in verdict.items():
            print(f"goal {goal}: {'met' if met else 'NOT met'}")
    return 0 if all(verdict.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
