"""`multicloud dev`: serve the service in the foreground with the private runtime, as `local` would.

The artifact is staged exactly as for the `local` target (user code + vendored runtime + deps), then the
runtime server runs in this terminal; Ctrl-C (SIGINT) or SIGTERM drains requests in flight and stops it.
Edit code and rerun: staging skips all work when nothing changed.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable

from multicloud.errors import OperationError
from multicloud.private_runtime import stage_artifact
from multicloud.project import Project
from multicloud.state import build_dir


def serve(project: Project, port: int, step: Callable[[str], None], host: str = "127.0.0.1") -> int:
    project.check_target("local")
    staged = stage_artifact(project, "local", build_dir(project, "dev"), step, without_broker=True)
    from multicloud.broker.topology import topology

    if not topology(project, "local").empty:
        step("queue, stream and storage functions: POST CloudEvents to /_events/<function> (dev runs no broker; "
             "`multicloud deploy --target local` does)")
    cmd = [*staged.command(sys.executable), "--port", str(port), "--host", host]
    step(f"serving {project.name} on http://{host}:{port} (Ctrl-C stops)")
    try:
        proc = subprocess.Popen(cmd, cwd=staged.app_dir)
    except OSError as exc:
        raise OperationError(f"cannot start the runtime: {exc.strerror}") from exc
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGTERM)  # drain in-flight requests, then exit
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        return 0
