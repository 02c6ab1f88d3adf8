"""Helpers of the lock tests, imported by name (`from lock_support import ...`, never `conftest`): process A
(hold_lock.py) holding a target's lock, the CLI as process B, and the scenarios every target's lock must
pass: contention, a killed holder, another checkout (another machine), and expiry after the holder died.
Target folders (e.g. tests/e2e/azure, tests/e2e/gcp) reuse them with a Case of their own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
EXE = Path(sys.executable).with_name("multicloud")
SHORT_TTL = 6.0  # seconds: MULTICLOUD_LOCK_TTL of the expiry scenario (a killed holder renewed < TTL/4 ago,
# so a deploy started right after the kill must reach the lock within 3/4 TTL: 4.5 s, even on a busy runner)


def cli(*args: str, timeout: float = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EXE), "-o", "json", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


class Holder:
    """Process A: holds the lock until released (a line on its stdin) or killed."""

    def __init__(self, root: Path, target: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen([sys.executable, str(HERE / "hold_lock.py"), str(root), target],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env={**os.environ, **(env or {})})
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("{"):
            self.proc.kill()
            raise AssertionError(f"process A did not take the lock: {line}{self.proc.communicate()[1]}")
        self.owner = str(json.loads(line)["owner"])
        assert self.owner.endswith(tuple("0123456789abcdef")) and f":{self.proc.pid}:" in self.owner

    def release(self) -> None:
        out, err = self.proc.communicate("release\n", timeout=60)
        assert self.proc.returncode == 0 and "released" in out, err

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.communicate(timeout=30)
        assert self.proc.returncode == -signal.SIGKILL


def assert_locked(result: subprocess.CompletedProcess[str], owner: str, root: Path, target: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    text = result.stdout
    assert '"locked"' in text and owner in text, text
    assert f"multicloud unlock {root}" in text and f"--target {target}" in text, text


@dataclass
class Case:
    target: str
    make: Callable[[Path], Path]  # folder -> project root (a fresh checkout of the same service)
    remote: bool  # the lock lives with the deployment, not in the checkout
    lock_exists: Callable[[], bool]


def contend(case: Case, tmp_path: Path) -> None:
    root = case.make(tmp_path / "runner-1")
    t = case.target

    # A holds, B's deploy is refused with A's name and the fix; after A releases, B deploys.
    a = Holder(root, t)
    assert case.lock_exists()
    assert_locked(cli("deploy", str(root), "-t", t), a.owner, root, t)
    a.release()
    assert not case.lock_exists()
    first = cli("deploy", str(root), "-t", t)
    assert first.returncode == 0, first.stdout + first.stderr
    assert not case.lock_exists()  # the deploy released its own lock

    # A is killed while holding: the stale lock is reported, broken with `multicloud unlock`, then deploy works.
    a = Holder(root, t)
    a.kill9()
    assert_locked(cli("deploy", str(root), "-t", t), a.owner, root, t)
    broken = cli("unlock", str(root), "-t", t)
    assert broken.returncode == 0, broken.stdout + broken.stderr
    assert json.loads(broken.stdout)["broken"]["owner"] == a.owner
    assert json.loads(cli("unlock", str(root), "-t", t).stdout)["broken"] is None  # nothing left to break
    again = cli("deploy", str(root), "-t", t)
    assert again.returncode == 0, again.stdout + again.stderr

    # Another "machine": a second checkout of the same service in another folder, no file in common.
    other = case.make(tmp_path / "runner-2")
    a = Holder(root, t)
    try:
        result = cli("deploy", str(other), "-t", t)
        if case.remote:
            assert_locked(result, a.owner, other, t)
            assert not (other / ".multicloud" / "locks").exists()  # nothing in the checkout did it
        else:  # a file lock is per machine: the other checkout is not excluded (documented)
            assert result.returncode == 0, result.stdout + result.stderr
    finally:
        a.release()
    assert not case.lock_exists()




def expire(case: Case, tmp_path: Path) -> None:
    """A live holder's heartbeat keeps its lock past several TTLs; a killed holder stops renewing, its
    lock expires after the TTL and the next deploy takes it over by itself, saying whose lock it broke."""
    root = case.make(tmp_path / "runner-ttl")
    t = case.target
    short = {"MULTICLOUD_LOCK_TTL": str(SHORT_TTL)}
    a = Holder(root, t, short)
    try:
        time.sleep(SHORT_TTL * 2)  # eight heartbeats; without them the lock would have expired twice
        alive = cli("deploy", str(root), "-t", t, env=short)
        assert_locked(alive, a.owner, root, t)
        assert "expires in" in alive.stdout, alive.stdout
    finally:
        a.kill9()
    dead = cli("deploy", str(root), "-t", t, env=short)  # renewed < TTL/4 ago: not expired yet
    assert_locked(dead, a.owner, root, t)
    time.sleep(SHORT_TTL)
    took = cli("deploy", str(root), "-t", t, env=short)
    assert took.returncode == 0, took.stdout + took.stderr
    assert "took over the expired deploy lock" in took.stderr and a.owner in took.stderr, took.stderr
    assert not case.lock_exists()
