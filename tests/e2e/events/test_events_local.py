"""Queue, stream and storage triggers on the `local` target, against a real nats-server the supervisor runs:
1,000 messages while the runtime and the broker are killed (-9) mid-batch, poison messages dead-lettered after
exactly max_attempts and brought back with `multicloud dead-letters --retry`, in-order streams through a
failing record (read by an `async def` handler, awaited on the runtime's loop), MinIO bucket notifications
from the broker and from a webhook POST, two runtime processes sharing one queue, and one service unable to
read another's subjects."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from events_support import (
    APP,
    FUNCTIONS,
    log_lines,
    messages_of,
    minio_notification,
    nats_error,
    publish,
    report_duplicates,
    wait_for,
)
from typer.testing import CliRunner

from multicloud.cli.app import app, hoist_global_options
from multicloud.project import Project
from multicloud.providers.local import LocalProvider, control
from multicloud.state import build_dir

pytestmark = [pytest.mark.slow]


class LocalService:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.provider = LocalProvider(Project.load(root))

    def deploy(self) -> Any:
        build = self.provider.build(build_dir(self.provider.project, "local"))
        return self.provider.deploy(build)

    @property
    def broker_dir(self) -> Path:
        return self.root / ".multicloud" / "local" / "broker"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{json.loads((self.broker_dir / 'broker.json').read_text())['port']}"

    def password(self, user: str) -> str:
        return str(json.loads((self.broker_dir / "passwords.json").read_text())[user])

    def lines(self) -> list[dict[str, Any]]:
        return log_lines((self.root / ".multicloud" / "local" / "service.log").read_text(errors="replace"))

    def status(self) -> dict[str, Any]:
        live = control.reachable(control.control_path(self.root / ".multicloud" / "local"))
        assert live is not None
        return live

    def subject(self, kind: str, name: str) -> str:
        from multicloud.broker.topology import topology

        return topology(self.provider.project, "local").channel(kind, name).subject  # type: ignore[arg-type]


def make_service(root: Path, service: str, functions: str) -> LocalService:
    root.mkdir(parents=True)
    (root / "app.py").write_text(APP)
    (root / "multicloud.yaml").write_text(f"service: {service}\n{functions}targets:\n  local: {{}}\n")
    return LocalService(root)


@pytest.fixture(scope="module")
def svc(nats_server: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalService]:
    service = make_service(tmp_path_factory.mktemp("events") / "evlocal", "evlocal", FUNCTIONS.format(sleep="0.004"))
    service.deploy()
    yield service
    service.provider.remove()


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, hoist_global_options(list(args)))


def handled(svc: LocalService, prefix: str) -> list[dict[str, Any]]:
    return [d for d in messages_of(svc.lines(), "handled") if str(d.get("body", "")).startswith(prefix)]


def test_1000_messages_survive_killing_the_runtime_and_the_broker(svc: LocalService) -> None:
    bodies = [f"m-{i:04d}" for i in range(1000)]
    before = svc.status()
    publish([svc.url], svc.password("producer"), svc.subject("queue", "orders"), [b.encode() for b in bodies])
    wait_for(lambda: len(handled(svc, "m-")) >= 100, 30, "the first hundred messages")
    os.kill(int(before["server_pid"]), signal.SIGKILL)  # the runtime, mid-batch (4 ms a message)
    wait_for(lambda: len({d["body"] for d in handled(svc, "m-")}) >= 400, 60, "400 messages after the kill")
    os.kill(int(before["broker"]["pid"]), signal.SIGKILL)  # the broker, with messages still queued
    wait_for(lambda: {d["body"] for d in handled(svc, "m-")} >= set(bodies), 120, "every message")
    wait_for(lambda: svc.provider.pending("orders") == 0, 30, "an empty queue")  # redeliveries done too
    seen = handled(svc, "m-")
    report_duplicates([d["body"] for d in seen], set(bodies), "local, runtime and broker killed")
    after = svc.status()
    assert after["server_pid"] != before["server_pid"] and after["restarts"] >= 1
    assert after["broker"]["pid"] != before["broker"]["pid"] and after["broker"]["restarts"] >= 1
    assert len({d["pid"] for d in seen}) >= 2  # the restarted runtime finished the work


def test_poison_messages_are_dead_lettered_after_exactly_max_attempts_and_retried(svc: LocalService) -> None:
    root = str(svc.root)
    assert cli("send", root, "-t", "local", "--queue", "orders", "-d", "poison-1", "-a", "tenant=acme").exit_code == 0
    assert cli("send", root, "-t", "local", "--queue", "orders", "-d", "poison-2").exit_code == 0
    letters = wait_for(lambda: len(svc.provider.dead_letters("orders")) == 2 and svc.provider.dead_letters("orders"),
                       30, "two dead letters")
    for body in ("poison-1", "poison-2"):
        assert sorted(d["attempt"] for d in handled(svc, body)) == [1, 2, 3]  # exactly max_attempts
    by_body = {d.body: d for d in letters}
    assert by_body[b"poison-1"].attempts == 3 and by_body[b"poison-1"].attributes == {"tenant": "acme"}
    assert "BatchResult" in (by_body[b"poison-1"].last_error or "")
    listed = cli("-o", "json", "dead-letters", root, "-t", "local")
    assert listed.exit_code == 0 and len(json.loads(listed.stdout)["dead_letters"]["orders"]) == 2

    retried = cli("dead-letters", root, "-t", "local", "--retry")
    assert retried.exit_code == 0 and "sent back 2" in retried.stdout
    # back in the queue: handled three more times each, then dead-lettered again with a fresh count
    wait_for(lambda: all(len(handled(svc, b)) == 6 for b in ("poison-1", "poison-2"))
             and len(svc.provider.dead_letters("orders")) == 2, 30, "the retried messages' three new attempts")
    assert {d.attempts for d in svc.provider.dead_letters("orders")} == {3}
    one = svc.provider.dead_letters("orders")[0].id
    purged = cli("dead-letters", root, "-t", "local", "--purge", "--id", one, "--yes")
    assert purged.exit_code == 0 and "purged 1" in purged.stdout
    assert [d.id for d in svc.provider.dead_letters("orders")] != [one]
    assert cli("dead-letters", root, "-t", "local", "--purge", "--yes").exit_code == 0
    assert svc.provider.dead_letters("orders") == []


def test_stream_is_read_in_order_through_a_failing_record(svc: LocalService) -> None:
    bodies = [f"c-{i:02d}" for i in range(20)]
    bodies[7] = "flaky-07"
    for body in bodies:
        assert cli("send", str(svc.root), "-t", "local", "--stream", "clicks", "-d", body).exit_code == 0
    records = wait_for(lambda: len(messages_of(svc.lines(), "record")) >= 20 and messages_of(svc.lines(), "record"),
                       30, "20 stream records")
    assert [r["body"] for r in records] == bodies  # flaky-07 failed twice; nothing after it ran before it
    assert {r["thread"] for r in records} == {"MainThread"}  # `async def clicks`: awaited on the server's loop


def test_minio_notifications_from_the_broker_and_from_a_webhook(svc: LocalService) -> None:
    subject = svc.subject("storage", "photos.raw")
    assert subject == "mc.evlocal.storage.photos-raw-" + subject.rsplit("-", 1)[1]  # a dotted bucket, one token
    publish([svc.url], svc.password("producer"), subject, [
        minio_notification("photos.raw", "in/summer (2024).jpg", size=2048),
        minio_notification("photos.raw", "in/skip.png"),  # the trigger's suffix filter drops it
        minio_notification("photos.raw", "in/old.jpg", "s3:ObjectRemoved:Delete"),
    ])
    objects = wait_for(lambda: len(messages_of(svc.lines(), "object")) >= 2 and messages_of(svc.lines(), "object"),
                       30, "two storage events")
    assert {(o["key"], o["kind"], o["size"]) for o in objects} == {("in/summer (2024).jpg", "created", 2048),
                                                                   ("in/old.jpg", "deleted", None)}
    # the same body as MinIO's webhook target POSTs it (Content-Type: application/json, a bearer token)
    request = urllib.request.Request(f"{_http_url(svc)}/_events/uploads",
                                     data=minio_notification("photos.raw", "in/hook.jpg"), method="POST",
                                     headers={"Content-Type": "application/json", "Authorization": "Bearer t0k"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 200 and json.loads(resp.read()) == {"handled": 1}
    assert any(o["key"] == "in/hook.jpg" for o in messages_of(svc.lines(), "object"))
    assert len([o for o in messages_of(svc.lines(), "object") if o["key"] == "in/skip.png"]) == 0


def _http_url(svc: LocalService) -> str:
    from multicloud.state import read_state

    return str(read_state(svc.provider.project, "local")["url"])


def test_two_runtime_processes_share_one_queue(svc: LocalService) -> None:
    """A second runtime process from the live release, as a second replica: the durable consumer splits
    the queue between them, each message to one of them."""
    release = Path(svc.status()["release"])
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    log = svc.root / "replica.log"
    with log.open("wb") as out:
        replica = subprocess.Popen([sys.executable, "-m", "multicloud.runtime.server", "--config",
                                    str(release / "runtime.json"), "--port", "0"], cwd=release / "app", stdout=out,
                                   stderr=subprocess.STDOUT, env={**env, "WORK_SLEEP": "0.01"})
    try:
        wait_for(lambda: '"listening"' in log.read_text(), 30, "the second runtime")
        bodies = [f"r-{i:03d}" for i in range(300)]
        publish([svc.url], svc.password("producer"), svc.subject("queue", "orders"), [b.encode() for b in bodies])
        wait_for(lambda: {d["body"] for d in handled(svc, "r-") + _replica(log)} >= set(bodies), 60,
                 "all 300 messages")
        main, second = handled(svc, "r-"), _replica(log)
        assert main and second, "both runtimes took a share of the queue"
        report_duplicates([d["body"] for d in main + second], set(bodies), "local, two runtimes")
        print(f"split: {len(main)} / {len(second)}")
    finally:
        replica.send_signal(signal.SIGTERM)
        assert replica.wait(30) == 0


def _replica(log: Path) -> list[dict[str, Any]]:
    return [d for d in messages_of(log_lines(log.read_text(errors="replace")), "handled")
            if str(d.get("body", "")).startswith("r-")]


def test_a_service_cannot_read_another_services_subjects(svc: LocalService,
                                                         tmp_path_factory: pytest.TempPathFactory) -> None:
    other = make_service(tmp_path_factory.mktemp("other") / "evother", "evother",
                         "functions:\n  work:\n    handler: app.work\n    triggers:\n      - queue: {name: orders}\n")
    other.deploy()
    try:
        runtime = svc.password("runtime")

        async def subscribe_other(nc: Any) -> None:
            await nc.subscribe("mc.evother.queue.orders")

        async def subscribe_own_queue(nc: Any) -> None:
            await nc.subscribe(svc.subject("queue", "orders"))

        async def pull_other(nc: Any) -> None:
            await nc.request("$JS.API.CONSUMER.MSG.NEXT.mc-evother-queue-orders.fn-work", b'{"batch": 1}',
                             timeout=1)

        # A's credentials do not open B's broker at all
        assert "authorization violation" in nats_error([other.url], "runtime", runtime, subscribe_other).lower()
        assert "authorization violation" in nats_error([other.url], "producer", svc.password("producer"),
                                                       subscribe_other).lower()
        # and on A's own broker, A's runtime reads only through its consumers: no subject, no other service's
        assert "permissions violation" in nats_error([svc.url], "runtime", runtime, subscribe_other).lower()
        assert "permissions violation" in nats_error([svc.url], "runtime", runtime, subscribe_own_queue).lower()
        # B's own runtime may pull from B's consumer; B's producer may only publish
        allowed = nats_error([other.url], "runtime", other.password("runtime"), pull_other, inbox="_MC_RT")
        assert "violation" not in allowed.lower()  # (no message waiting: the pull just times out)
        assert "permissions violation" in nats_error([other.url], "producer", other.password("producer"),
                                                     pull_other).lower()
        # the credentials are files only their owner reads, and never in the state file or the logs
        for name in ("passwords.json", "runtime.password", "producer.password", "nats.conf"):
            assert oct((svc.broker_dir / name).stat().st_mode & 0o777) == "0o600"
        state = (svc.root / ".multicloud" / "state" / "local.json").read_text()
        logs = (svc.root / ".multicloud" / "local" / "service.log").read_text()
        for user in ("admin", "runtime", "producer"):
            assert svc.password(user) not in state and svc.password(user) not in logs
    finally:
        other.provider.remove()


def test_validate_names_the_install_command_when_nats_server_is_missing(svc: LocalService,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MULTICLOUD_NATS_SERVER", str(svc.root / "no-nats-server"))
    res = cli("validate", str(svc.root), "-t", "local")
    assert res.exit_code == 3 and "apt-get install nats-server" in res.output
    http_only = svc.root.parent / "web"
    http_only.mkdir(exist_ok=True)
    (http_only / "app.py").write_text(APP)
    (http_only / "multicloud.yaml").write_text("service: web\nfunctions:\n  api:\n    handler: app.api\n"
                                               "    triggers:\n      - http: {path: /}\n")
    assert cli("validate", str(http_only), "-t", "local").exit_code == 0  # HTTP-only services never need it


def test_supervisor_on_sigterm_leaves_no_uvicorn_or_nats_server(nats_server: Path, tmp_path: Path) -> None:
    """SIGTERM to the local supervisor (what a system shutdown or `kill` sends): it drains and stops its
    uvicorn server and its nats-server; nothing of its process group is left, so no orphan keeps the port or
    the broker's store."""
    import time

    service = make_service(tmp_path / "evterm", "evterm", FUNCTIONS.format(sleep="0"))
    service.deploy()
    status = service.status()
    sup, server, broker = status["supervisor_pid"], status["server_pid"], status["broker"]["pid"]
    pgid = os.getpgid(sup)
    assert pgid == sup and os.getpgid(server) == pgid and os.getpgid(broker) == pgid
    publish([service.url], service.password("producer"), service.subject("queue", "orders"), [b"before-term"])
    wait_for(lambda: handled(service, "before-term"), 30, "the queue function did not run")
    os.kill(sup, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            break
        left = subprocess.run(["ps", "-o", "pid,stat,args", "-g", str(pgid)], capture_output=True, text=True).stdout
        assert time.monotonic() < deadline, f"processes outlived the supervisor:\n{left}"
        time.sleep(0.1)
    lines = service.lines()
    assert any(d.get("message") == "stopped" and d.get("outcome") == "drained" for d in lines), lines[-5:]
    service.provider.remove()


SLOW_APP = '''
import time


def slow(event, context):
    for m in event.messages:
        context.logger.info("started", body=m.text)
    time.sleep(3)  # past the function's 1 s timeout


def ping(event, context):
    return {"ok": True}
'''


def test_a_batch_past_the_function_timeout_fails_like_an_http_call(nats_server: Path, tmp_path: Path) -> None:
    """Messages go through the server's one call path (RuntimeApp.invoke): the function's timeout applies
    to a batch as to an HTTP request, the attempt fails with the timeout as its reason (kept by the dead
    letter), and the server, sharing the same worker pool, keeps answering HTTP."""
    root = tmp_path / "evslow"
    root.mkdir()
    (root / "app.py").write_text(SLOW_APP)
    (root / "multicloud.yaml").write_text(
        "service: evslow\nfunctions:\n  slow:\n    handler: app.slow\n    timeout: 1\n    triggers:\n"
        "      - queue: {name: jobs, batch_size: 1, max_attempts: 2}\n"
        "  ping:\n    handler: app.ping\n    triggers:\n      - http: {path: /ping, methods: [GET]}\n"
        "targets:\n  local: {}\n")
    service = LocalService(root)
    try:
        result = service.deploy()
        assert cli("send", str(root), "-t", "local", "--queue", "jobs", "-d", "slow-1").exit_code == 0
        letters = wait_for(lambda: service.provider.dead_letters("jobs"), 60, "the timed-out message's dead letter")
        assert letters[0].attempts == 2 and "timed out after 1 s" in (letters[0].last_error or ""), letters[0]
        started = [d for d in messages_of(service.lines(), "started") if d.get("body") == "slow-1"]
        assert len(started) == 2  # both attempts reached the handler
        failed = [d for d in service.lines() if d.get("type") == "event" and d.get("function") == "slow"
                  and "timed out" in str(d.get("error", ""))]
        assert failed, "each timed-out batch is logged with its reason"
        url = next(e.url for e in result.endpoints if e.function == "ping")
        with urllib.request.urlopen(url, timeout=10) as resp:
            assert json.loads(resp.read()) == {"ok": True}
    finally:
        service.provider.remove()



def test_the_supervisor_and_the_broker_never_share_a_port(nats_server: Path, tmp_path: Path) -> None:
    """Seen as a new user: a deploy that failed after the build (a missing secret) had recorded the broker's
    port; the next deploy's supervisor took that very port as its free one, and the broker could never bind
    again (each deploy waited 30 s for it). Both ports are remembered, so start from that state: the
    supervisor remembers P and the broker has recorded P. The deploy gives one of them another port, the
    runtime reaches the broker, a message goes through, and a redeploy keeps both ports."""
    from multicloud.state import read_state, write_state

    service = make_service(tmp_path / "evport", "evport", FUNCTIONS.format(sleep="0"))
    project = service.provider.project
    service.broker_dir.mkdir(parents=True)
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        shared = probe.getsockname()[1]
    write_state(project, "local", {**read_state(project, "local"), "port": shared})
    (service.broker_dir / "broker.json").write_text(json.dumps({"port": shared}) + "\n")
    try:
        service.deploy()
        status = service.status()
        assert status["port"] != status["broker"]["port"], status
        assert status["broker"]["state"] == "running"
        publish([service.url], service.password("producer"), service.subject("queue", "orders"), [b"own-ports"])
        wait_for(lambda: handled(service, "own-ports"), 30, "the queue function did not run")
        service.provider = LocalProvider(Project.load(service.root))
        service.deploy()
        again = service.status()
        assert (again["port"], again["broker"]["port"]) == (status["port"], status["broker"]["port"])
    finally:
        service.provider.remove()
