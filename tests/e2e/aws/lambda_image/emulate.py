"""Lambda emulation entry point for moto (lambci convention), built on the air-gapped base image.

moto runs `<image> <handler> <event-json>` with the function's zip mounted at /var/task and reads the
last line of the container's output as the result. This entry point does not load the handler itself:
it serves the Lambda Runtime API on 127.0.0.1 inside the container (lambda_runtime_api.py, stdlib) and
starts AWS's own runtime interface client, `python3 -m awslambdaric <handler>`, which imports the handler
string exactly as Lambda's Python runtime does and posts its answer back. The image carries awslambdaric
and boto3 in /var/runtime, as Lambda's Python runtime has them. Like Lambda, anything the handler prints
goes to the logs (stderr here), between the platform's START and END/REPORT lines (moto stores them in
the function's CloudWatch Logs group); the result (or Lambda's error document) is printed last, as one
JSON line, on stdout, and the exit code is 1 when the handler raised.
"""

import json
import os
import resource
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lambda_runtime_api import InvocationError, RuntimeApi  # noqa: E402


def main() -> int:
    handler, event = sys.argv[1], json.loads(sys.argv[2] if len(sys.argv) > 2 else "{}")
    os.chdir("/var/task")
    timeout = float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT") or 3)
    function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "function")
    request_id = str(uuid.uuid4())
    with RuntimeApi() as api, api.client("/var/task", handler, runtime_dirs=("/var/runtime",), log=sys.stderr,
                                         python=sys.executable):
        # the platform's lines around an invocation, as Lambda writes them to the log stream (awslambdaric
        # itself writes the `[ERROR] Type: message` line of an unhandled exception, as on Lambda)
        print(f"START RequestId: {request_id} Version: {os.environ.get('AWS_LAMBDA_FUNCTION_VERSION', '$LATEST')}",
              file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            result, code = api.invoke(event, function=function, timeout_s=timeout, request_id=request_id), 0
            line = json.dumps(result)
        except InvocationError as exc:  # Lambda's own error document, as awslambdaric posted it
            line, code = json.dumps(exc.document), 1
        except TimeoutError:
            line, code = json.dumps({"errorMessage": f"Task timed out after {timeout:.2f} seconds",
                                     "errorType": "TimeoutError"}), 1
        duration = (time.perf_counter() - started) * 1000
    used_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024  # the runtime client, now reaped
    print(f"END RequestId: {request_id}", file=sys.stderr)
    memory = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
    print(f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\tBilled Duration: "
          f"{max(1, int(duration + 0.999))} ms\tMemory Size: {memory} MB\tMax Memory Used: {used_mb} MB",
          file=sys.stderr, flush=True)
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
