"""Lambda emulation entry point for moto (lambci convention), built on the air-gapped base image.

The image carries boto3 in /var/runtime, as Lambda's Python runtime does. moto runs
`<image> <handler> <event-json>` with the function's zip mounted at /var/task and reads the
last line of the container's output as the result. Like Lambda, anything the handler prints goes to the
logs (stderr here), between the platform's START and END/REPORT lines (moto stores them in the function's
CloudWatch Logs group); the result is printed last, as one JSON line, on stdout.
"""

import importlib
import json
import os
import resource
import sys
import time
import traceback
import uuid


class Context:
    def __init__(self) -> None:
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "function")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        region = os.environ.get("AWS_REGION", "us-east-1")
        self.invoked_function_arn = f"arn:aws:lambda:{region}:123456789012:function:{self.function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "emulator"
        self._deadline = time.monotonic() + float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "3"))

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main() -> int:
    handler, event = sys.argv[1], json.loads(sys.argv[2] if len(sys.argv) > 2 else "{}")
    # variables Lambda's runtime sets and moto does not
    os.environ.setdefault("AWS_DEFAULT_REGION", os.environ.get("AWS_REGION", "us-east-1"))
    os.environ.setdefault("LAMBDA_TASK_ROOT", "/var/task")
    os.environ.setdefault("LAMBDA_RUNTIME_DIR", "/var/runtime")
    sys.path.insert(0, "/var/task")
    sys.path.append("/var/runtime")  # boto3, as on Lambda
    os.chdir("/var/task")
    result_out = sys.stdout
    sys.stdout = sys.stderr  # the handler's prints are logs, as on Lambda
    ctx = Context()
    print(f"START RequestId: {ctx.aws_request_id} Version: {ctx.function_version}", file=sys.stderr)
    started = time.perf_counter()
    try:
        module, _, attr = handler.rpartition(".")
        result = getattr(importlib.import_module(module), attr)(event, ctx)
        line, code = json.dumps(result), 0
    except Exception as exc:  # reported the way Lambda does
        # Lambda's Python runtime logs an unhandled exception as one `[ERROR]` line
        print(f"[ERROR] {type(exc).__name__}: {exc}", file=sys.stderr)
        traceback.print_exc()
        line = json.dumps({"errorMessage": str(exc), "errorType": type(exc).__name__,
                           "stackTrace": traceback.format_tb(exc.__traceback__)})
        code = 1
    duration = (time.perf_counter() - started) * 1000
    print(f"END RequestId: {ctx.aws_request_id}", file=sys.stderr)
    print(f"REPORT RequestId: {ctx.aws_request_id}\tDuration: {duration:.2f} ms\tBilled Duration: "
          f"{max(1, int(duration + 0.999))} ms\tMemory Size: {ctx.memory_limit_in_mb} MB\tMax Memory Used: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB", file=sys.stderr)
    sys.stderr.flush()
    result_out.write(line + "\n")
    result_out.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
