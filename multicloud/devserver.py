"""`multicloud dev`: serve the service in the foreground with the private runtime, as `local` would.

The artifact is staged exactly as for the `local` target (user code + vendored runtime + deps), then the
runtime server runs in this terminal; Ctrl-C (SIGINT), SIGTERM or SIGHUP drains requests in flight and stops
it, and should this process be killed outright the server notices (`--parent-pid`) and stops too.
Edit code and rerun: staging skips all work when nothing changed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable

from multicloud.errors import OperationError
from multicloud.private_runtime import stage_artifact
from multicloud.project import Project
from multicloud.state import build_dir


class _Stop(Exception):
    """SIGTERM or SIGHUP reached the CLI: stop the server the way Ctrl-C does."""


def serve(project: Project, port: int, step: Callable[[str], None], host: str = "127.0.0.1") -> int:
    project.check_target("local")
    staged = stage_artifact(project, "local", build_dir(project, "dev"), step, without_broker=True)
    from multicloud.broker.topology import topology

    if not topology(project, "local").empty:
        step("queue, stream and storage functions: POST CloudEvents to /_events/<function> (dev runs no broker; "
             "`multicloud deploy --target local` does)")
    # --parent-pid: should this process die without a word (kill -9), the server drains and exits too
    cmd = [*staged.command(sys.executable), "--port", str(port), "--host", host, "--parent-pid", str(os.getpid())]
    step(f"serving {project.name} on http://{host}:{port} (Ctrl-C stops)")
    try:
        proc = subprocess.Popen(cmd, cwd=staged.app_dir)
    except OSError as exc:
        raise OperationError(f"cannot start the runtime: {exc.strerror}") from exc

    def stop(_signum: int, _frame: object) -> None:
        raise _Stop

    handled = (signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, stop) for sig in handled}
    try:
        code = proc.wait()
    except (KeyboardInterrupt, _Stop):
        proc.send_signal(signal.SIGTERM)  # drain in-flight requests, then exit
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if code == 78:  # EX_CONFIG: the server said why in its log line
        raise OperationError("the runtime could not start (see its `cannot start` line above)",
                             fix=f"fix what it names; a taken port: pass --port (now {port})")
    return code
