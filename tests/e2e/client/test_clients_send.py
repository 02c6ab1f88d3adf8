"""`send` from both manifest clients to a queue and a stream service deployed to local (a real nats-server the
supervisor runs) and docker (single mode, the broker container), end to end.

`multicloud deploy` then `multicloud endpoints -o json`, as a user would; the manifest lists each channel's
HTTP intake per target (no secret in it). Python's `Client.from_manifest(...).send` and the JavaScript client
under `node --test` put messages on the queue and the stream; the functions' own log lines, read from each
target (the local service log, the function container's log), show that they handled every message, with
its attributes. A wrong or missing key is refused (401) and nothing is handled; a message over the broker's
1 MB limit is refused (413). Then local is removed and both clients fail over to docker.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from clients_support import JS_TESTS, cli, docker_fixtures, run_node

from multicloud.client import Client
from multicloud.errors import UsageError
from multicloud.manifest_client import AuthRequiredError
from multicloud.orchestrate import provider_for
from multicloud.project import Project

pytestmark = [pytest.mark.docker, pytest.mark.slow]

DOCKER_KEY = "send-test-docker-key-0123456789"
BROKER_IMAGE = os.environ.get("MULTICLOUD_TEST_BROKER_IMAGE", "multicloud/nats:bookworm")
APP = '''
def work(event, context):
    for m in event.messages:
        context.logger.info("handled", body=m.text, attributes=m.attributes)


def clicks(event, context):
    for m in event.messages:
        context.logger.info("record", body=m.text)
'''
SPEC = """service: {service}
functions:
  work:
    handler: app.work
    timeout: 5
    memory: 128
    triggers:
      - queue: {{name: orders, batch_size: 10}}
  clicks:
    handler: app.clicks
    timeout: 5
    memory: 128
    triggers:
      - stream: {{name: clicks, batch_size: 10, starting_position: trim_horizon}}
targets:
  local: {{}}
  docker:
    auth_key: env:SEND_TEST_DOCKER_KEY   # set, so the docker runtime holds a key and takes messages over HTTP
    base_image: {base}
    broker_image: {broker}
    labels: {{{label}: "{session}"}}
"""


@dataclass
class Deployed:
    root: Path
    manifest: dict[str, Any]
    local_key: str

    @property
    def keys(self) -> dict[str, str]:
        return {"local": self.local_key, "docker": DOCKER_KEY}

    def node_env(self) -> dict[str, str]:
        return {"MULTICLOUD_KEY_LOCAL": self.local_key, "MULTICLOUD_KEY_DOCKER": DOCKER_KEY}

    def lines(self, target: str, message: str) -> list[dict[str, Any]]:
        from multicloud.access_log import records

        if target == "local":
            log = self.root / ".multicloud" / "local" / "service.log"
            text = log.read_text(errors="replace") if log.exists() else ""
        else:
            from multicloud.providers.docker import DockerProvider

            live = DockerProvider(Project.load(self.root)).mode().live()
            text = live.logs().decode(errors="replace") if live is not None else ""
        return [r for r in records(text.splitlines()) if r.get("message") == message]

    def bodies(self, target: str, message: str = "handled") -> list[str]:
        return [str(r.get("body")) for r in self.lines(target, message)]

    def wait_handled(self, target: str, bodies: set[str], message: str = "handled", timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not bodies <= set(self.bodies(target, message)):
            assert time.monotonic() < deadline, f"{target} handled {self.bodies(target, message)}, not all of {bodies}"
            time.sleep(0.3)

    def broker_passwords(self) -> list[str]:
        local = json.loads((self.root / ".multicloud" / "local" / "broker" / "passwords.json").read_text())
        from multicloud.providers.docker import DockerProvider

        docker = DockerProvider(Project.load(self.root)).mode().broker().creds.passwords()
        return [*local.values(), *docker.values()]


@pytest.fixture(scope="module")
def deployed(engine: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    from multicloud.providers.local.broker import find_binary

    if find_binary() is None:
        pytest.fail("nats-server is missing; .ci/run installs Debian's nats-server package")
    try:
        engine.images.get(BROKER_IMAGE)
    except Exception:  # noqa: BLE001
        pytest.fail(f"{BROKER_IMAGE} is missing; .ci/setup-docker.sh builds it")
    patch = pytest.MonkeyPatch()
    patch.setenv("SEND_TEST_DOCKER_KEY", DOCKER_KEY)
    root = tmp_path_factory.mktemp("send") / "svc"
    root.mkdir()
    (root / "app.py").write_text(APP)
    (root / "multicloud.yaml").write_text(SPEC.format(
        service=docker_fixtures.service_name("send"), base=docker_fixtures.BASE_IMAGE, broker=BROKER_IMAGE,
        label=docker_fixtures.TEST_LABEL, session=docker_fixtures.SESSION))
    try:
        done = cli("-o", "json", "deploy", cwd=root)
        assert done.returncode == 0, done.stdout + done.stderr
        listed = cli("-o", "json", "endpoints", cwd=root)
        assert listed.returncode == 0, listed.stdout + listed.stderr
        yield Deployed(root, json.loads(listed.stdout),
                       (root / ".multicloud" / "local" / "auth.key").read_text().strip())
    finally:
        project = Project.load(root)
        for target in ("local", "docker"):
            try:
                provider_for(project, target).remove()
            except Exception:  # noqa: BLE001 - removed by the test already
                pass
        patch.undo()


def test_manifest_lists_each_targets_intake_and_no_secret(deployed: Deployed) -> None:
    orders, clicks = deployed.manifest["queues"]["orders"], deployed.manifest["streams"]["clicks"]
    assert [e["target"] for e in orders["send"]] == ["local", "docker"]
    for entry, kind, name in ((orders["send"][0], "queues", "orders"), (clicks["send"][1], "streams", "clicks")):
        assert entry["url"].startswith("http://127.0.0.1:") and entry["url"].endswith(f"/_{kind}/{name}")
        assert entry["auth"] == {"type": "key", "header": "X-Multicloud-Key"}
    text = json.dumps(deployed.manifest)
    for secret in (DOCKER_KEY, deployed.local_key, *deployed.broker_passwords()):
        assert secret not in text


def test_both_clients_send_and_the_functions_handle_every_message(deployed: Deployed, tmp_path: Path) -> None:
    py = Client.from_manifest(deployed.manifest, keys=deployed.keys)
    first = py.send("orders", b"py-1", attributes={"Tenant": "acme"})
    assert (first.target, first.channel, first.name) == ("local", "queue", "orders") and int(first.message_id or 0) > 0
    assert py.send("orders", "py-2", target="docker").target == "docker"
    assert py.send(stream="clicks", body=b"py-click").target == "local"
    cases = {"manifest": deployed.manifest, "options": {"timeoutMs": 20000}, "cases": [
        {"name": "orders", "body": "js-1", "send": {"attributes": {"tenant": "js"}},
         "expect": {"target": "local", "kind": "queue"}},
        {"name": "orders", "body": {"js": 2}, "send": {"target": "docker"},
         "expect": {"target": "docker", "kind": "queue"}},
        {"name": "clicks", "body": "js-click", "send": {"stream": True, "target": "docker"},
         "expect": {"target": "docker", "kind": "stream"}},
    ]}
    passed, _ = run_node(JS_TESTS / "send.test.mjs", cases, tmp_path, deployed.node_env())
    assert passed == 3
    deployed.wait_handled("local", {"py-1", "js-1"})
    deployed.wait_handled("docker", {"py-2", '{"js":2}'})
    deployed.wait_handled("local", {"py-click"}, "record")
    deployed.wait_handled("docker", {"js-click"}, "record")
    attrs = {r["body"]: r["attributes"] for r in deployed.lines("local", "handled")}
    assert attrs["py-1"] == {"tenant": "acme"} and attrs["js-1"] == {"tenant": "js"}


def test_the_openapi_documents_curl_example_puts_a_message_on_the_queue(deployed: Deployed) -> None:
    import shutil
    import subprocess

    from openapi_spec_validator import validate

    from multicloud.openapi import curl_examples

    run = cli("-o", "json", "openapi", "--target", "local,docker", cwd=deployed.root)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    validate(doc)
    op = doc["paths"]["/_queues/orders"]["post"]
    assert op["x-multicloud-targets"] == {"local": "multicloud_key", "docker": "multicloud_key"}
    assert [s["description"] for s in op.get("servers", doc["servers"])] == ["local", "docker"]
    curl = shutil.which("curl")
    assert curl is not None, "curl is not installed"
    lines = curl_examples(doc).splitlines()
    command = lines[lines.index("# work: POST /_queues/orders on docker (key in X-Multicloud-Key)") + 1]
    docker_url = next(s["url"] for s in doc["servers"] if s["description"] == "docker")
    out = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30,
                         env={**os.environ, "DOCKER_URL": docker_url, "MULTICLOUD_KEY_DOCKER": DOCKER_KEY})
    assert json.loads(out.stdout)["queue"] == "orders", out.stdout + out.stderr
    deployed.wait_handled("docker", {"{}"})


def test_wrong_or_missing_key_is_401_and_too_large_is_413(deployed: Deployed, tmp_path: Path) -> None:
    for entry in deployed.manifest["queues"]["orders"]["send"]:  # plain HTTP, no client
        request = urllib.request.Request(entry["url"], data=b"no-key", method="POST")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request, timeout=10)
        assert err.value.code == 401
    for target in ("local", "docker"):
        with pytest.raises(AuthRequiredError, match="HTTP 401"):
            Client.from_manifest(deployed.manifest, keys={target: "wrong"}).send("orders", b"wrong-key", target=target)
        with pytest.raises(UsageError, match="HTTP 413"):
            Client.from_manifest(deployed.manifest, keys=deployed.keys).send("orders", b"x" * (1024 * 1024 + 1),
                                                                              target=target)
    big = "x" * (1024 * 1024 + 1)
    cases = {"manifest": deployed.manifest, "options": {}, "cases": [
        {"name": "orders", "body": "wrong-key", "keys": {"local": "wrong", "docker": "wrong"},
         "expect": {"error": "AuthError", "match": "HTTP 401"}},
        {"name": "orders", "body": big, "send": {"target": "docker"},
         "expect": {"error": "UsageError", "match": "HTTP 413"}},
    ]}
    run_node(JS_TESTS / "send.test.mjs", cases, tmp_path, deployed.node_env())
    time.sleep(1)
    for target in ("local", "docker"):
        assert not {"no-key", "wrong-key"} & set(deployed.bodies(target))


def test_with_local_gone_both_clients_fail_over_to_docker(deployed: Deployed, tmp_path: Path) -> None:
    provider_for(Project.load(deployed.root), "local").remove()
    sent = Client.from_manifest(deployed.manifest, keys=deployed.keys, timeout=20).send("orders", b"py-failover")
    assert sent.target == "docker"
    cases = {"manifest": deployed.manifest, "options": {"timeoutMs": 20000}, "cases": [
        {"name": "orders", "body": "js-failover", "expect": {"target": "docker", "kind": "queue"}}]}
    run_node(JS_TESTS / "send.test.mjs", cases, tmp_path, deployed.node_env())
    deployed.wait_handled("docker", {"py-failover", "js-failover"})
