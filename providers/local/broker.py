"""The `local` target's broker: a nats-server (JetStream) process the supervisor starts and supervises.

    <service>/.multicloud/local/broker/
        nats.conf         the server's configuration (0600: it holds the users' passwords)
        passwords.json    the generated passwords (0600), kept across deploys
        runtime.password  the runtime user's password alone (0600), referenced from runtime.json as file:...
        producer.password the producer user's password alone (0600), for the runtime's HTTP intake
        broker.json       the client port, chosen once (a free one) and kept
        store/            JetStream's file store (messages survive a restart of the broker)
        nats.pid          the server's pid (a supervisor killed with -9 leaves an orphan to clean up)

The binary is `$MULTICLOUD_NATS_SERVER`, else `nats-server` on PATH (or /usr/sbin, where Debian puts it).
Only services with a queue, stream or storage trigger need it; `validate --target local` says how to
install it when it is missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from multicloud.broker.admin import BrokerAdmin
from multicloud.broker.config import new_passwords, render
from multicloud.broker.topology import Topology, topology
from multicloud.errors import OperationError, UnsupportedError
from multicloud.private_runtime import BrokerAccess
from multicloud.project import Project
from multicloud.provider import Progress
from multicloud.state import read_state

from . import control
from .settings import LocalSettings

ENV = "MULTICLOUD_NATS_SERVER"
MIN_VERSION = (2, 9)
INSTALL = ("install nats-server 2.9 or newer: `sudo apt-get install nats-server` (Debian, Ubuntu), "
           "`brew install nats-server` (macOS), or a release from github.com/nats-io/nats-server; "
           f"or set {ENV}=/path/to/nats-server")


def find_binary() -> Path | None:
    configured = os.environ.get(ENV)
    if configured:
        return Path(configured) if Path(configured).is_file() else None
    found = shutil.which("nats-server") or next(
        (p for p in ("/usr/sbin/nats-server", "/usr/local/sbin/nats-server") if os.access(p, os.X_OK)), None)
    return Path(found) if found else None


def version_of(binary: Path) -> tuple[int, ...] | None:
    try:
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"v?(\d+)\.(\d+)\.(\d+)", out.stdout + out.stderr)
    return tuple(int(g) for g in match.groups()) if match else None


def require_binary(topology: Topology) -> Path:
    """The nats-server to run; UnsupportedError (exit 3) naming the install command when there is none."""
    kinds = sorted({c.kind for c in topology.channels})
    binary = find_binary()
    why = f"{', '.join(kinds)} triggers on the local target are delivered through NATS JetStream"
    if binary is None:
        where = os.environ.get(ENV) or "PATH"
        raise UnsupportedError(f"{why}, and no nats-server was found ({ENV} or PATH: {where})", fix=INSTALL,
                               where="targets.local")
    version = version_of(binary)
    if version is None or version[:2] < MIN_VERSION:
        shown = ".".join(map(str, version)) if version else "an unknown version"
        raise UnsupportedError(f"{why}; {binary} is {shown}, JetStream needs 2.9 or newer", fix=INSTALL,
                               where="targets.local")
    return binary


def _write_secret(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _free_port(host: str, avoid: frozenset[int] = frozenset()) -> int:
    held: list[socket.socket] = []
    try:
        while True:  # a port in `avoid` stays bound meanwhile, so the kernel offers another
            sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
            held.append(sock)
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
            if port not in avoid:
                return port
    finally:
        for sock in held:
            sock.close()


def recorded_port(rundir: Path) -> int | None:
    """The broker's recorded client port, if it has one (the supervisor must not take it)."""
    meta = rundir / "broker" / "broker.json"
    try:
        return int(json.loads(meta.read_text())["port"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class LocalBroker:
    rundir: Path
    topology: Topology
    host: str = "127.0.0.1"
    avoid: frozenset[int] = frozenset()  # the supervisor's ports: the broker never records one of them

    @property
    def dir(self) -> Path:
        return self.rundir / "broker"

    @property
    def config_path(self) -> Path:
        return self.dir / "nats.conf"

    @property
    def pid_file(self) -> Path:
        return self.dir / "nats.pid"

    def port(self) -> int:
        """The client port, chosen once (a free one) and kept, unless it is one the supervisor uses or asks
        for: then a new one is chosen (the build bakes the port into the runtime's configuration)."""
        meta = self.dir / "broker.json"
        if meta.is_file():
            port = int(json.loads(meta.read_text())["port"])
            if port not in self.avoid:
                return port
        port = _free_port(self.host, self.avoid)
        meta.write_text(json.dumps({"port": port}) + "\n")
        return port

    def passwords(self) -> dict[str, str]:
        path = self.dir / "passwords.json"
        if path.is_file():
            data: dict[str, str] = json.loads(path.read_text())
            return data
        data = new_passwords()
        _write_secret(path, json.dumps(data) + "\n")
        return data

    @property
    def url(self) -> str:
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"nats://{host}:{self.port()}"

    def prepare(self) -> BrokerAccess:
        """Write the configuration and credentials (kept if unchanged); how the runtime reaches the broker."""
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        passwords = self.passwords()
        text = render(self.topology, passwords, listen=f"{self.host}:{self.port()}",
                      store_dir=str((self.dir / "store").resolve()), server_name=f"mc-{self.topology.service}",
                      pid_file=str(self.pid_file.resolve()))
        if not self.config_path.is_file() or self.config_path.read_text() != text:
            _write_secret(self.config_path, text)
        refs = {}
        for user in ("runtime", "producer"):
            path = self.dir / f"{user}.password"
            if not path.is_file() or path.read_text() != passwords[user]:
                _write_secret(path, passwords[user])
            refs[user] = f"file:{path.resolve()}"
        return BrokerAccess((self.url,), refs["runtime"], refs["producer"])

    def admin(self) -> BrokerAdmin:
        return BrokerAdmin([self.url], self.passwords()["admin"], where=f"local nats-server ({self.config_path})")

    def stale_pid(self) -> int | None:
        """The pid of a nats-server running this configuration (an orphan of a killed supervisor)."""
        try:
            pid = int(self.pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        return pid if b"nats-server" in cmdline and str(self.config_path).encode() in cmdline else None


def broker_for(project: Project, settings: LocalSettings) -> LocalBroker:
    """The service's broker, kept off every port the supervisor holds, asks for or remembers."""
    rundir = control.run_dir(project)
    state = read_state(project, "local")
    live = control.reachable(control.control_path(rundir)) or {}
    ports = {settings.port or 0, int(state.get("port") or 0), int(live.get("port") or 0)} - {0}
    return LocalBroker(rundir, topology(project, "local"), avoid=frozenset(ports))


def admin_for(project: Project, settings: LocalSettings) -> BrokerAdmin:
    broker = broker_for(project, settings)
    if not broker.config_path.is_file():
        raise OperationError("the service's broker was never started on the local target",
                             fix="run `multicloud deploy --target local`")
    return broker.admin()


def ensure(project: Project, settings: LocalSettings, progress: Progress) -> None:
    """Start (or keep) the service's nats-server under the supervisor and declare its streams; stop it
    when no function reads events any more."""
    topo = topology(project, "local")
    sock_path = control.control_path(control.run_dir(project))
    if topo.empty:
        if (control.reachable(sock_path) or {}).get("broker"):
            progress("local: stopping the broker (no function reads a queue, stream or bucket now)")
            control.call(sock_path, {"cmd": "broker-stop"}, timeout=60)
        return
    broker = broker_for(project, settings)
    broker.prepare()
    answer = control.call(sock_path, {"cmd": "broker", "binary": str(require_binary(topo)),
                                      "config": str(broker.config_path), "port": broker.port()}, timeout=60)
    if not answer.get("ok"):
        raise OperationError(f"the local broker did not start: {answer.get('error')}",
                             fix="see .multicloud/local/broker.log", where=str(broker.config_path))
    admin = broker.admin()
    admin.wait_ready(30)
    admin.ensure(topo, 1, progress)
