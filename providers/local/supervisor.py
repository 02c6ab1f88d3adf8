"""The `local` target's supervisor: owns the listening socket, runs the runtime server, swaps it on deploy.

    python -m multicloud.providers.local.supervisor --dir RUNDIR --host 127.0.0.1 --port N

It binds the port once and hands the socket to each server generation (`--fd`). A deploy starts the
new server on the same socket, waits for its `ready` line, then SIGTERMs the old one, which stops
accepting and drains its requests in flight. Both share one kernel accept queue, so no connection is
refused or reset during the swap, which is what SO_REUSEPORT with two sockets cannot promise (closing a
listener drops the connections queued on it). A server that dies on its own is restarted with backoff;
one that cannot start (exit 78) is not. Stdlib only; runs detached from the deploying shell.

A service with queue, stream or storage triggers also gets its nats-server (JetStream) as a second
child (`broker` command: started, restarted with backoff when it dies, reloaded with SIGHUP when its
configuration file changes, stopped after the runtime has drained on `stop`).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

READY_TIMEOUT = 60.0
BROKER_READY_TIMEOUT = 20.0
EX_CONFIG = 78


def log(message: str, **fields: object) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    sys.stdout.write(json.dumps({"time": stamp, "type": "supervisor", "message": message, **fields}) + "\n")
    sys.stdout.flush()


class Child:
    def __init__(self, proc: subprocess.Popen[bytes], release: str, generation: int) -> None:
        self.proc = proc
        self.release = release
        self.generation = generation
        self.started = time.time()


class BrokerChild:
    """The service's nats-server (queue, stream and storage triggers), when the service has any."""

    def __init__(self, proc: subprocess.Popen[bytes], binary: str, config: str, port: int) -> None:
        self.proc = proc
        self.binary = binary
        self.config = config
        self.port = port
        self.digest = _digest(config)
        self.started = time.time()


def _digest(path: str) -> str:
    import hashlib

    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""


def _speaks_nats(port: int) -> bool:
    """Whether a NATS server answers on the port: it greets every new connection with an INFO line."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            return conn.recv(4) == b"INFO"
    except OSError:
        return False


class Supervisor:
    def __init__(self, rundir: Path, listener: socket.socket, control: socket.socket, control_path: Path) -> None:
        self.rundir = rundir
        self.listener = listener
        self.control = control
        self.control_path = control_path
        self.lock = threading.Lock()  # one deploy/stop at a time
        self.child: Child | None = None
        self.generation = 0
        self.restarts = 0
        self.env: dict[str, str] = {}
        self.secrets_fp: object = None  # the deployer's fingerprint of the secret values (memory only)
        self.stopping = threading.Event()
        self.last_error: str | None = None
        self.broker: BrokerChild | None = None
        self.broker_restarts = 0

    # ---- children ----------------------------------------------------------------------------------
    def _log_file(self) -> IO[bytes]:
        return (self.rundir / "service.log").open("ab")

    def _spawn(self, release: str) -> tuple[subprocess.Popen[bytes] | None, str | None]:
        """Start a server generation on the shared socket; (process, None) once ready, else (None, why)."""
        app_dir = Path(release) / "app"
        read_fd, write_fd = os.pipe()
        env = {**os.environ, **self.env}
        env.pop("PYTHONPATH", None)  # the release's vendored runtime, not whatever the shell points at
        cmd = [sys.executable, "-m", "multicloud.runtime.server", "--config", str(Path(release) / "runtime.json"),
               "--fd", str(self.listener.fileno()), "--ready-fd", str(write_fd), "--parent-pid", str(os.getpid())]
        with self._log_file() as out:
            try:
                proc = subprocess.Popen(cmd, cwd=app_dir, stdout=out, stderr=out, stdin=subprocess.DEVNULL, env=env,
                                        pass_fds=(self.listener.fileno(), write_fd))
            except OSError as exc:
                os.close(read_fd)
                os.close(write_fd)
                return None, f"cannot start the server: {exc.strerror}"
        os.close(write_fd)
        ready = b""
        deadline = time.monotonic() + READY_TIMEOUT
        try:
            while time.monotonic() < deadline:
                import select

                readable, _, _ = select.select([read_fd], [], [], 0.1)
                if readable:
                    chunk = os.read(read_fd, 64)
                    ready += chunk
                    if b"ready" in ready or not chunk:
                        break
                if proc.poll() is not None:
                    break
        finally:
            os.close(read_fd)
        if b"ready" in ready:
            return proc, None
        try:
            proc.wait(5)  # the pipe closes as the process exits; give it a moment to be reaped
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None, f"the server was not ready within {READY_TIMEOUT:g} s"
        return None, self._startup_reason(proc.returncode)

    def _startup_reason(self, code: int | None) -> str:
        try:
            lines = (self.rundir / "service.log").read_text(errors="replace").splitlines()[-50:]
        except OSError:
            lines = []
        for line in reversed(lines):
            if '"cannot start"' in line:
                try:
                    return str(json.loads(line).get("error"))
                except ValueError:
                    break
        return f"the server exited with status {code} before it was ready (see service.log)"

    def deploy(self, release: str, env: dict[str, str], secrets_fp: object = None) -> dict[str, Any]:
        with self.lock:
            if self.stopping.is_set():
                return {"ok": False, "error": "the supervisor is stopping (remove in progress)", **self._status()}
            old_env, old_fp = self.env, self.secrets_fp
            self.env, self.secrets_fp = dict(env), secrets_fp
            proc, error = self._spawn(release)
            if proc is None:
                self.env, self.secrets_fp = old_env, old_fp
                self.last_error = error
                log("deploy failed; the previous generation keeps serving", error=error)
                return {"ok": False, "error": error, **self._status()}
            old = self.child
            self.generation += 1
            self.child = Child(proc, release, self.generation)
            self.last_error = None
            log("generation ready", generation=self.generation, pid=proc.pid, release=release)
            if old is not None:
                self._stop_child(old)
            return {"ok": True, **self._status()}

    # ---- the broker -------------------------------------------------------------------------------
    def start_broker(self, binary: str, config: str, port: int) -> dict[str, Any]:
        """Run nats-server with `config` (restart on a new binary, reload on a changed file); ok once it
        accepts connections on `port`."""
        with self.lock:
            if self.stopping.is_set():
                return {"ok": False, "error": "the supervisor is stopping (remove in progress)"}
            current = self.broker
            if current is not None and current.proc.poll() is None and (current.binary, current.config) == (
                    binary, config):
                digest = _digest(config)
                if digest != current.digest:
                    current.proc.send_signal(signal.SIGHUP)  # nats-server reloads users and permissions
                    current.digest = digest
                    log("broker configuration reloaded", pid=current.proc.pid)
                return {"ok": True, **self._broker_status()}
            if current is not None:
                self._stop_broker(current)
                self.broker = None
            proc, error = self._spawn_broker(binary, config, port)
            if proc is None:
                return {"ok": False, "error": error}
            self.broker = BrokerChild(proc, binary, config, port)
            return {"ok": True, **self._broker_status()}

    def stop_broker(self) -> dict[str, Any]:
        with self.lock:
            if self.broker is not None:
                self._stop_broker(self.broker)
                self.broker = None
            return {"ok": True}

    def _spawn_broker(self, binary: str, config: str, port: int) -> tuple[subprocess.Popen[bytes] | None, str | None]:
        with (self.rundir / "broker.log").open("ab") as out:
            try:
                proc = subprocess.Popen([binary, "-c", config], cwd=self.rundir, stdout=out, stderr=out,
                                        stdin=subprocess.DEVNULL)
            except OSError as exc:
                return None, f"cannot start {binary}: {exc.strerror}"
        deadline = time.monotonic() + BROKER_READY_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = (self.rundir / "broker.log").read_text(errors="replace").strip().splitlines()[-3:]
                return None, f"nats-server exited with status {proc.returncode}: {' | '.join(tail)}"
            if not _speaks_nats(port):  # another program on the port is not our broker being ready
                time.sleep(0.05)
                continue
            log("broker ready", pid=proc.pid, port=port)
            return proc, None
        proc.kill()
        proc.wait()
        return None, f"nats-server did not accept connections on port {port} within {BROKER_READY_TIMEOUT:g} s"

    def _stop_broker(self, broker: BrokerChild) -> None:
        if broker.proc.poll() is None:
            broker.proc.send_signal(signal.SIGTERM)
            try:
                broker.proc.wait(15)
            except subprocess.TimeoutExpired:
                broker.proc.kill()
                broker.proc.wait()
        log("broker stopped", pid=broker.proc.pid, code=broker.proc.returncode)

    def _broker_status(self) -> dict[str, Any]:
        broker = self.broker
        if broker is None:
            return {"broker": None}
        return {"broker": {"pid": broker.proc.pid, "port": broker.port,
                           "state": "running" if broker.proc.poll() is None else "exited",
                           "restarts": self.broker_restarts}}

    def _watch_broker(self, backoff: float) -> float:
        """Restart a nats-server that died (called with the lock held); returns the next backoff."""
        broker = self.broker
        if broker is None or broker.proc.poll() is None:
            return 0.5 if broker is None or time.time() - broker.started > 30 else backoff
        log("broker exited unexpectedly", pid=broker.proc.pid, code=broker.proc.returncode)
        time.sleep(backoff)
        proc, error = self._spawn_broker(broker.binary, broker.config, broker.port)
        if proc is None:
            log("broker restart failed", error=error)
            return min(backoff * 2, 30.0)
        self.broker_restarts += 1
        self.broker = BrokerChild(proc, broker.binary, broker.config, broker.port)
        return min(backoff * 2, 30.0)

    def _stop_child(self, child: Child, timeout: float = 120.0) -> None:
        if child.proc.poll() is None:
            child.proc.send_signal(signal.SIGTERM)  # stops accepting, drains what it holds
            try:
                child.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                child.proc.kill()
                child.proc.wait()
        log("generation stopped", generation=child.generation, pid=child.proc.pid, code=child.proc.returncode)

    def watch(self) -> None:
        """Restart a generation that died on its own (not one that cannot start), with backoff."""
        backoff = 0.5
        broker_backoff = 0.5
        given_up: set[int] = set()
        while not self.stopping.is_set():
            time.sleep(0.2)
            with self.lock:
                if not self.stopping.is_set():
                    broker_backoff = self._watch_broker(broker_backoff)
                child = self.child
                if child is None or self.stopping.is_set() or child.proc.poll() is None:
                    if child is not None and time.time() - child.started > 30:
                        backoff = 0.5
                    continue
                if child.generation in given_up:
                    continue
                code = child.proc.returncode
                log("server exited unexpectedly", generation=child.generation, code=code)
                if code == EX_CONFIG:
                    self.last_error = self._startup_reason(code)
                    given_up.add(child.generation)
                    continue
                time.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                proc, error = self._spawn(child.release)
                if proc is None:
                    self.last_error = error
                    continue
                self.restarts += 1
                self.generation += 1
                self.child = Child(proc, child.release, self.generation)
                log("restarted", generation=self.generation, pid=proc.pid)

    def _status(self) -> dict[str, Any]:
        child = self.child
        running = child is not None and child.proc.poll() is None
        host, port = self.listener.getsockname()[:2]
        return {
            "supervisor_pid": os.getpid(),
            "host": host,
            "port": port,
            "state": "running" if running else ("failed" if child is not None else "empty"),
            "generation": self.generation,
            "server_pid": child.proc.pid if child is not None else None,
            "release": child.release if child is not None else None,
            "started": child.started if child is not None else None,
            "restarts": self.restarts,
            "last_error": self.last_error,
            "secrets_fp": self.secrets_fp,
            **self._broker_status(),
        }

    def stop(self) -> dict[str, Any]:
        with self.lock:
            self.stopping.set()
            if self.child is not None:
                self._stop_child(self.child)  # drains first: its last acks reach the broker
            if self.broker is not None:
                self._stop_broker(self.broker)
            return {"ok": True, **self._status()}

    # ---- control channel ---------------------------------------------------------------------------
    def serve_control(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.control.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(30)
            data = b""
            cmd: object = None
            try:
                while chunk := conn.recv(65536):
                    data += chunk
                message = json.loads(data)
                cmd = message.get("cmd")
                if cmd == "status":
                    answer = {"ok": True, **self._status()}
                elif cmd == "deploy":
                    answer = self.deploy(str(message["release"]), dict(message.get("env") or {}),
                                         message.get("secrets_fp"))
                elif cmd == "stop":
                    answer = self.stop()
                elif cmd == "broker":
                    answer = self.start_broker(str(message["binary"]), str(message["config"]), int(message["port"]))
                elif cmd == "broker-stop":
                    answer = self.stop_broker()
                else:
                    answer = {"ok": False, "error": f"unknown command {cmd!r}"}
                conn.sendall(json.dumps(answer).encode())
            except (OSError, ValueError, KeyError) as exc:
                try:
                    conn.sendall(json.dumps({"ok": False, "error": f"bad request: {exc}"}).encode())
                except OSError:
                    pass
        if cmd == "stop":  # only the stop handler ends the process, once its answer is out
            self.shutdown()

    def shutdown(self) -> None:
        try:
            self.control.close()
        except OSError:
            pass
        self.control_path.unlink(missing_ok=True)
        log("supervisor exiting")
        os._exit(0)


def bind_listener(host: str, port: int, avoid: int | None = None) -> socket.socket:
    """Bind the service's port; with port 0 a free one other than `avoid` (the broker's recorded port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    if port == 0 and avoid is not None and sock.getsockname()[1] == avoid:
        try:
            return bind_listener(host, 0)  # the kernel offers another while this one is bound
        finally:
            sock.close()
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m multicloud.providers.local.supervisor")
    parser.add_argument("--dir", required=True)
    parser.add_argument("--control", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--avoid-port", type=int, default=None)
    args = parser.parse_args(argv)
    rundir = Path(args.dir)
    control_path = Path(args.control)
    try:
        listener = bind_listener(args.host, args.port, args.avoid_port)
    except OSError as exc:
        log("cannot listen", error=f"{args.host}:{args.port}: {exc.strerror}")
        return 1
    control_path.unlink(missing_ok=True)
    control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o077)  # the control socket is 0600: only this user may deploy through it
    try:
        control.bind(str(control_path))
    finally:
        os.umask(old_umask)
    control.listen(16)
    control.settimeout(0.5)
    sup = Supervisor(rundir, listener, control, control_path)

    def stop_and_exit() -> None:
        sup.stop()
        sup.shutdown()

    def on_term(*_: object) -> None:
        threading.Thread(target=stop_and_exit, daemon=True).start()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    threading.Thread(target=sup.watch, name="watch", daemon=True).start()
    log("supervisor listening", host=listener.getsockname()[0], port=listener.getsockname()[1], pid=os.getpid())
    sup.serve_control()
    while True:  # stop() was called: shutdown() ends the process
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
