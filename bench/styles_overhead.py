"""What serving an existing app through multicloud's Lambda shim costs, against the libraries people use
for the same job on Lambda, measured in the same run on the same app and the same event:

* a Flask app (style wsgi): `multicloud.runtime.aws.entry(..., style="wsgi")` against apig-wsgi's
  `make_lambda_handler`;
* a FastAPI app (style asgi): `entry(..., style="asgi")` against Mangum;
* a Lambda handler (style aws) off Lambda: what the private runtime's path adds (HttpRequest -> the payload
  2.0 event -> the handler -> the answer read back) over calling the handler with a ready-made event.

Each figure is microseconds per invocation of aws-sam-cli's HTTP API v2 sample (tests/events/aws), the
best of several timeit runs (this machine is shared); the ratio is ours over the peer's. A missing peer
is named with the command that installs it (`pip install '.[bench]'`), and the rest is measured.

Usage: python bench/styles_overhead.py [--runs N] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVENT = json.loads((ROOT / "tests" / "events" / "aws" / "apigw-http-api-v2.json").read_text())
EVENT.update(rawPath="/items/7", isBase64Encoded=False, body=None)
EVENT["requestContext"]["http"].update(method="GET", path="/items/7")
sys.path.insert(0, str(ROOT))

# one module per framework, so a missing framework costs only its own row
APPS = {
    "bench_flask": '''
from flask import Flask, jsonify

flask_app = Flask(__name__)


@flask_app.get("/items/<int:item_id>")
def flask_item(item_id):
    return jsonify(id=item_id)
''',
    "bench_fastapi": '''
from fastapi import FastAPI

fastapi_app = FastAPI()


@fastapi_app.get("/items/{item_id}")
async def fastapi_item(item_id: int):
    return {"id": item_id}
''',
    "bench_lambda": '''
def lambda_handler(event, context):
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": event["rawPath"]}
''',
}


class Context:
    function_name, memory_limit_in_mb, aws_request_id = "bench", "128", "bench-request"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:bench"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def per_call_us(fn, runs: int, number: int) -> float:
    fn()  # warm: imports, caches, lifespan
    return min(timeit.repeat(fn, number=number, repeat=runs)) / number * 1e6  # the least disturbed run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--number", type=int, default=300)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="styles-bench-"))
    for module, source in APPS.items():
        (work / f"{module}.py").write_text(source)
    sys.path.insert(0, str(work))
    import importlib.util

    from multicloud.runtime.aws import entry
    from multicloud.runtime.context import Context as Portable
    from multicloud.runtime.http import HttpRequest
    from multicloud.runtime.invoke import handle_http, load_handler

    ctx = Context()
    results: dict[str, dict[str, float | str | None]] = {}
    for name, framework, app, style, peer_module, make_peer in (
            ("flask (wsgi)", "flask", "bench_flask.flask_app", "wsgi", "apig_wsgi",
             lambda m, a: m.make_lambda_handler(a)),
            ("fastapi (asgi)", "fastapi", "bench_fastapi.fastapi_app", "asgi", "mangum",
             lambda m, a: m.Mangum(a, lifespan="off"))):
        if importlib.util.find_spec(framework) is None:
            print(f"{name}: {framework} is not installed, not measured: pip install '.[bench]'", file=sys.stderr)
            continue
        ours = entry(app, "bench", style=style)
        module, attr = app.split(".")
        app_object = getattr(__import__(module), attr)
        assert json.loads(ours(dict(EVENT), ctx)["body"]) == {"id": 7}
        row: dict[str, float | str | None] = {"ours_us": per_call_us(lambda o=ours: o(dict(EVENT), ctx), args.runs,
                                                                      args.number)}
        try:
            peer = make_peer(__import__(peer_module), app_object)
        except ImportError:
            row.update(peer_us=None, ratio=None, peer=f"{peer_module} missing: pip install '.[bench]'")
        else:
            assert json.loads(peer(dict(EVENT), ctx)["body"]) == {"id": 7}
            row["peer_us"] = per_call_us(lambda p=peer: p(dict(EVENT), ctx), args.runs, args.number)
            row.update(ratio=row["ours_us"] / row["peer_us"], peer=peer_module)  # type: ignore[operator]
        results[name] = row

    import bench_lambda

    adapted = load_handler("bench_lambda.lambda_handler", style="aws")
    request = HttpRequest("GET", "/items/7", query="a=1", headers={"host": "x", "user-agent": "bench"})
    portable = Portable("bench", "r", "local")
    ours_us = per_call_us(lambda: handle_http(adapted, request, portable), args.runs, args.number)
    raw_us = per_call_us(lambda: bench_lambda.lambda_handler(dict(EVENT), ctx), args.runs, args.number)
    results["lambda handler off Lambda (aws)"] = {
        "ours_us": ours_us - raw_us, "peer_us": None, "ratio": None,
        "peer": "no peer builds Lambda events off Lambda: the figure is the event built plus the answer read back"}
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"{'app':<34} {'multicloud us':>14} {'peer us':>10} {'ratio':>7}  peer")
    for name, row in results.items():
        peer_us = f"{row['peer_us']:.1f}" if row["peer_us"] is not None else "-"
        ratio = f"{row['ratio']:.2f}" if row["ratio"] is not None else "-"
        print(f"{name:<34} {row['ours_us']:>14.1f} {peer_us:>10} {ratio:>7}  {row['peer']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
