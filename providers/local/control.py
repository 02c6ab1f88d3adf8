"""Where a `local` deployment lives on disk, and the supervisor's control channel.

    <service>/.multicloud/local/
        releases/<digest>/   runtime.json + app/ + deps/ (a copy of the build: the build folder can change
                             under a running server, a release never does)
        service.log          the runtime's JSON log (every server generation appends here)
        supervisor.log       the supervisor's own JSON lines
        auth.key             the key for `auth: key` routes (0600, generated once; never in state)
        control.sock         the supervisor's control socket (0600; a short path in $TMPDIR when the
                             service path is too long for a Unix socket)

The control protocol is one JSON object per connection each way. `deploy` carries the values of the
`env:` secret references from the deploying shell, in memory over the 0600 socket, so they are never
written to disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import tempfile
from pathlib import Path
from typing import Any

from multicloud.errors import OperationError
from multicloud.project import Project

MAX_UNIX_PATH = 100


def run_dir(project: Project) -> Path:
    return project.root / ".multicloud" / "local"


def key_path(rundir: Path) -> Path:
    return rundir / "auth.key"


def control_path(rundir: Path) -> Path:
    path = rundir / "control.sock"
    if len(str(path)) < MAX_UNIX_PATH:
        return path
    digest = hashlib.sha256(str(rundir.resolve()).encode()).hexdigest()[:20]
    folder = Path(tempfile.gettempdir()) / f"multicloud-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder / f"{digest}.sock"


def call(sock_path: Path, message: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
    """Send one command to the supervisor and return its answer (OperationError if it is not there)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(sock_path))
            sock.sendall(json.dumps(message).encode() + b"\n")
            sock.shutdown(socket.SHUT_WR)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
    except (OSError, TimeoutError) as exc:
        raise OperationError(f"the local supervisor does not answer on {sock_path}: {exc}",
                             fix="run `multicloud deploy --target local` to start it again") from exc
    try:
        answer = json.loads(data)
    except ValueError as exc:
        raise OperationError("the local supervisor sent a malformed answer") from exc
    if not isinstance(answer, dict):
        raise OperationError("the local supervisor sent a malformed answer")
    return answer


def reachable(sock_path: Path) -> dict[str, Any] | None:
    """The supervisor's status, or None when no supervisor answers."""
    if not sock_path.exists():
        return None
    try:
        return call(sock_path, {"cmd": "status"}, timeout=5)
    except OperationError:
        return None
