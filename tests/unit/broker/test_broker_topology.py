"""The broker topology derived from a spec, the nats-server configuration it renders (checked by a real
nats-server's own config test, `nats-server -t`), and runtime.json's broker section as the runtime parses it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from multicloud.broker.config import Cluster, new_passwords, render
from multicloud.broker.topology import conflicts, runtime_section, token, topology
from multicloud.errors import UnsupportedError
from multicloud.project import Project
from multicloud.runtime.server_config import ConfigError, parse_broker

SPEC = """\
service: shop
functions:
  orders:
    handler: app.h
    timeout: 7
    triggers:
      - queue: {name: orders, batch_size: 25, max_attempts: 4}
  clicks:
    handler: app.h
    triggers:
      - stream: {name: clicks, batch_size: 100}
  replay:
    handler: app.h
    triggers:
      - stream: {name: clicks, starting_position: trim_horizon}
  thumbs:
    handler: app.h
    triggers:
      - storage: {bucket: my.photos, events: [created], prefix: in/, suffix: .jpg}
  web:
    handler: app.h
    triggers:
      - http: {path: /}
"""


def project(tmp_path: Path, spec: str = SPEC) -> Project:
    (tmp_path / "app.py").write_text("def h(event, context):\n    return None\n")
    (tmp_path / "multicloud.yaml").write_text(spec)
    return Project.load(tmp_path)


def test_streams_subjects_and_consumers_of_a_spec(tmp_path: Path) -> None:
    topo = topology(project(tmp_path), "local")
    assert [(c.kind, c.stream, c.subject, c.retention) for c in topo.channels] == [
        ("queue", "mc-shop-queue-orders", "mc.shop.queue.orders", "workqueue"),
        ("stream", "mc-shop-stream-clicks", "mc.shop.stream.clicks", "limits"),
        ("storage", f"mc-shop-bucket-{token('my.photos')}", f"mc.shop.storage.{token('my.photos')}", "interest"),
    ]
    subs = {s.function: s for s in topo.subscriptions}
    assert set(subs) == {"orders", "clicks", "replay", "thumbs"}  # http functions read nothing
    assert (subs["orders"].consumer, subs["orders"].batch_size, subs["orders"].max_attempts) == ("fn-orders", 25, 4)
    assert subs["orders"].ack_wait == 2 * 7 + 5 and not subs["orders"].ordered
    assert subs["clicks"].deliver == "new" and subs["replay"].deliver == "all"  # latest / trim_horizon
    assert subs["clicks"].ordered and subs["clicks"].max_attempts is None  # streams retry in order until done
    assert subs["clicks"].channel is subs["replay"].channel  # two readers of one stream, each its own consumer
    assert subs["thumbs"].events == ("created",) and subs["thumbs"].suffix == ".jpg"
    assert topo.dead_letter_stream == "mc-shop-dead-letters"
    assert topo.channel("queue", "orders").dead_letter_subject == "mc.shop.dead.orders"
    assert topology(project(tmp_path, SPEC.split("  orders:")[0] + "  web:\n    handler: app.h\n"), "local").empty


def test_names_that_are_not_subject_tokens_become_distinct_valid_ones() -> None:
    assert token("orders") == "orders" and token("a_b-C9") == "a_b-C9"
    cleaned = {token(n) for n in ("a.b", "a b", "a*b", "a>b", "a-b")}
    assert len(cleaned) == 5 and all(" " not in t and "." not in t and "*" not in t and ">" not in t
                                     for t in cleaned)


def test_two_functions_on_one_queue_are_refused_on_the_private_targets(tmp_path: Path) -> None:
    spec = SPEC + "  second:\n    handler: app.h\n    triggers:\n      - queue: {name: orders}\n"
    p = project(tmp_path, spec)
    assert [(what, fns) for what, fns, _ in conflicts(p, "local")] == [("queue orders", ["orders", "second"])]
    from multicloud.providers.local import LocalProvider

    with pytest.raises(UnsupportedError) as info:
        LocalProvider(p).check()
    assert info.value.exit_code == 3 and "queue orders" in info.value.what


def test_runtime_json_section_round_trips_through_the_runtimes_parser(tmp_path: Path) -> None:
    topo = topology(project(tmp_path), "docker")
    section = runtime_section(topo, ["nats://mc-shop-broker:4222"], "file:/run/multicloud/secrets/broker-password")
    parsed = parse_broker(section, {"orders", "clicks", "replay", "thumbs", "web"})
    assert parsed.servers == ("nats://mc-shop-broker:4222",)
    assert parsed.inbox_prefix == "_MC_RT" and parsed.user == "runtime"
    assert [(s.function, s.kind, s.stream, s.max_attempts, s.ordered) for s in parsed.subscriptions][:2] == [
        ("orders", "queue", "mc-shop-queue-orders", 4, False),
        ("clicks", "stream", "mc-shop-stream-clicks", None, True)]
    with pytest.raises(ConfigError, match="reference"):
        parse_broker({**section, "password": "hunter2"}, {"orders"})
    with pytest.raises(ConfigError, match="no function"):
        parse_broker(section, {"web"})


def _nats_server() -> str:
    from multicloud.providers.local.broker import find_binary

    binary = find_binary()
    if binary is None:
        pytest.skip("nats-server is not installed (.ci/run installs it)")
    return str(binary)


@pytest.mark.parametrize("clustered", [False, True])
def test_rendered_configuration_passes_nats_servers_own_check(tmp_path: Path, clustered: bool) -> None:
    binary = _nats_server()
    topo = topology(project(tmp_path), "docker")
    passwords = new_passwords()
    text = render(topo, passwords, listen="127.0.0.1:4222", store_dir=str(tmp_path / "store"),
                  server_name="mc-shop-broker",
                  cluster=Cluster("mc-shop", ("mc-shop-broker-1", "mc-shop-broker-2")) if clustered else None)
    conf = tmp_path / "nats.conf"
    conf.write_text(text)
    out = subprocess.run([binary, "-t", "-c", str(conf)], capture_output=True, text=True, timeout=30,
                         env={"MC_SERVER_NAME": "mc-shop-broker-1", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stdout + out.stderr
    assert "$JS.API.CONSUMER.MSG.NEXT.*.*" in text and '"mc.shop.dead.>"' in text
    assert ('server_name: $MC_SERVER_NAME' in text) == clustered
