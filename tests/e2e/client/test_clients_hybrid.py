"""Both manifest clients against a hybrid service deployed to local, docker and aws (moto), end to end.

examples/hybrid-clinic with three targets: `slots` lives on aws and local (its placement's order),
`records` (confidential) on local and docker. `multicloud endpoints` writes the manifest; the Python
client with the spec (through the providers), Python's `Client.from_manifest` (also from a venv with a
plain `pip install .`: no cloud SDK) and the JavaScript client under `node --test` all get the same
answers. Then targets stop, one after the other, and both manifest clients fail over the same way:
aws stops answering (slots moves to local), aws comes back and local is removed (records moves to
docker), and with aws down again slots has nowhere left (UnavailableError, both clients).

aws: moto does not serve Function URLs, so a FunctionUrlFront (clients_support.py) stands in for the
Function URL of `slots` and the manifest the clients get points there.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from clients_support import JS_TESTS, ROOT, FunctionUrlFront, cli, run_node, write_hybrid

from multicloud.client import Client
from multicloud.manifest_client import UnavailableError
from multicloud.orchestrate import provider_for
from multicloud.project import Project

pytestmark = [pytest.mark.moto, pytest.mark.docker, pytest.mark.slow]

AUTH_KEY = "clients-test-docker-key"
RECORDS_KEY = "clients-test-records-key"
SLOTS = ["09:00", "09:30", "10:00"]
# (function, call) pairs every client makes; the answers must agree
CALLS: list[tuple[str, dict[str, Any]]] = [
    ("slots", {}),
    ("records", {"path": "/records/42"}),
    ("records", {"path": "/records/7", "query": {"full": "1"}}),
    ("records", {"path": "/records"}),  # no such route: the target's own 404, not a failover
]


@dataclass
class Hybrid:
    root: Path
    manifest: dict[str, Any]  # as `multicloud endpoints` wrote it
    front: FunctionUrlFront
    local_key: str

    @property
    def keys(self) -> dict[str, str]:
        return {"local": self.local_key, "docker": AUTH_KEY}

    def for_clients(self) -> dict[str, Any]:
        """The manifest with aws's Function URL pointing at the front that serves it here."""
        manifest = copy.deepcopy(self.manifest)
        for entry in manifest["functions"]["slots"]["targets"]:
            if entry["target"] == "aws":
                entry["url"] = self.front.url
        return manifest


@pytest.fixture(scope="module")
def hybrid(moto_endpoint: str, lambda_images: None, engine: Any, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Hybrid]:
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")).read()
    patch = pytest.MonkeyPatch()
    patch.setenv("MULTICLOUD_AUTH_KEY", AUTH_KEY)  # docker's key for `auth: key` routes (env: reference)
    patch.setenv("CLINIC_RECORDS_KEY", RECORDS_KEY)  # records' secret, on local and docker
    root = write_hybrid(tmp_path_factory.mktemp("clients") / "clinic", "clients")
    front = None
    try:
        deployed = cli("-o", "json", "deploy", cwd=root)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        assert [t["target"] for t in json.loads(deployed.stdout)["targets"]] == ["aws", "docker", "local"]
        listed = cli("-o", "json", "endpoints", cwd=root)
        assert listed.returncode == 0, listed.stdout + listed.stderr
        front = FunctionUrlFront(root, "slots").start()
        yield Hybrid(root, json.loads(listed.stdout), front,
                     (root / ".multicloud" / "local" / "auth.key").read_text().strip())
    finally:
        if front is not None:
            front.stop()
        project = Project.load(root)
        for target in ("local", "docker", "aws"):
            try:
                provider_for(project, target).remove()
            except Exception:  # noqa: BLE001 - removed by the test already, or the engine's label cleanup takes it
                pass
        patch.undo()


def answers(client: Any) -> list[dict[str, Any]]:
    out = []
    for fn, call in CALLS:
        reply = client.call(fn, **call)
        out.append({"target": reply.target, "status": reply.status, "json": reply.json()})
    return out


def node_cases(hybrid: Hybrid, expected: list[dict[str, Any]]) -> dict[str, Any]:
    return {"manifest": hybrid.for_clients(), "options": {"timeoutMs": 20000},
            "cases": [{"fn": fn, "call": call, "expect": want}
                      for (fn, call), want in zip(CALLS, expected, strict=True)]}


def node_env(hybrid: Hybrid) -> dict[str, str]:
    """The JavaScript client reads its keys from the environment, as a Node app would."""
    return {"MULTICLOUD_KEY_LOCAL": hybrid.local_key, "MULTICLOUD_KEY_DOCKER": AUTH_KEY}


def test_manifest_lists_each_function_where_it_is_live_in_placement_order(hybrid: Hybrid) -> None:
    functions = hybrid.manifest["functions"]
    slots, records = functions["slots"], functions["records"]
    assert slots["placement"]["order"] == ["aws", "local"]  # allowed_targets, in the user's order
    assert records["placement"] == {"data_class": "confidential", "order": ["local", "docker"]}
    assert [e["target"] for e in slots["targets"]] == ["aws", "local"]
    assert [e["target"] for e in records["targets"]] == ["local", "docker"]
    aws = slots["targets"][0]
    assert ".lambda-url." in aws["url"] and aws["routes"] == [
        {"path": "/slots", "methods": ["GET"], "auth": {"type": "none"}}]
    for entry in records["targets"]:
        assert entry["url"].startswith("http://127.0.0.1:")
        assert entry["routes"] == [{"path": "/records/{patient}", "methods": ["GET"],
                                    "auth": {"type": "key", "header": "X-Multicloud-Key"}}]
    text = json.dumps(hybrid.manifest)
    assert AUTH_KEY not in text and RECORDS_KEY not in text and hybrid.local_key not in text  # no secret


def test_python_and_javascript_clients_agree_then_fail_over(hybrid: Hybrid, tmp_path: Path,
                                                            plain_venv: Path) -> None:
    manifest = hybrid.for_clients()
    # all three targets up: the spec client (through the providers) sets the expectation
    expected = answers(Client(hybrid.root))
    assert [(a["target"], a["status"]) for a in expected] == [("aws", 200), ("local", 200), ("local", 200),
                                                              ("local", 404)]
    assert expected[0]["json"] == {"slots": SLOTS, "served_by": "aws"}
    assert expected[1]["json"] == {"patient": "42", "allergies": [], "served_by": "local"}
    assert answers(Client.from_manifest(manifest, keys=hybrid.keys)) == expected
    assert plain_answers(plain_venv, manifest, node_env(hybrid), tmp_path) == expected
    passed, _ = run_node(JS_TESTS / "calls.test.mjs", node_cases(hybrid, expected), tmp_path, node_env(hybrid))
    assert passed == len(CALLS)

    # aws stops answering: slots fails over to local (records stays on local)
    hybrid.front.stop()
    expected = answers(Client.from_manifest(manifest, keys=hybrid.keys, timeout=20))
    assert [a["target"] for a in expected] == ["local", "local", "local", "local"]
    assert expected[0]["json"] == {"slots": SLOTS, "served_by": "local"}
    run_node(JS_TESTS / "calls.test.mjs", node_cases(hybrid, expected), tmp_path, node_env(hybrid))

    # aws is back and local is gone: slots on aws again, records fails over to docker
    hybrid.front.start()
    provider_for(Project.load(hybrid.root), "local").remove()
    expected = answers(Client.from_manifest(manifest, keys=hybrid.keys, timeout=20))
    assert [a["target"] for a in expected] == ["aws", "docker", "docker", "docker"]
    assert expected[1]["json"] == {"patient": "42", "allergies": [], "served_by": "docker"}
    run_node(JS_TESTS / "calls.test.mjs", node_cases(hybrid, expected), tmp_path, node_env(hybrid))

    # aws down again: slots has nowhere left to go, in both clients
    hybrid.front.stop()
    with pytest.raises(UnavailableError) as err:
        Client.from_manifest(manifest, keys=hybrid.keys).call("slots")
    assert [a["target"] for a in err.value.attempts] == ["aws", "local"]
    cases = {"manifest": manifest, "options": {"timeoutMs": 20000}, "cases": [
        {"fn": "slots", "call": {}, "expect": {"error": "UnavailableError", "targets": ["aws", "local"]}}]}
    run_node(JS_TESTS / "calls.test.mjs", cases, tmp_path, node_env(hybrid))


# ---- Client.from_manifest with a plain `pip install .` (no extra, so no cloud SDK) -------------------------
PLAIN = """
import json, sys
for sdk in ("boto3", "docker", "azure.identity", "google.cloud.functions_v2"):
    try:
        __import__(sdk)
    except ImportError:
        continue
    sys.exit(f"{sdk} is installed in the plain venv")
from multicloud.client import Client
manifest = json.load(open(sys.argv[1]))
calls = json.load(open(sys.argv[2]))
client = Client.from_manifest(manifest)  # keys from MULTICLOUD_KEY_<TARGET>
out = []
for fn, call in calls:
    reply = client.call(fn, **call)
    out.append({"target": reply.target, "status": reply.status, "json": reply.json()})
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def plain_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with `pip install .` of this checkout and nothing else, as the README installs it."""
    venv = tmp_path_factory.mktemp("plain") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(ROOT)],
                         capture_output=True, text=True, timeout=600)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    return venv / "bin" / "python"


def plain_answers(python: Path, manifest: dict[str, Any], env: dict[str, str], tmp: Path) -> list[dict[str, Any]]:
    import os

    (tmp / "manifest.json").write_text(json.dumps(manifest))
    (tmp / "calls.json").write_text(json.dumps(CALLS))
    run = subprocess.run([str(python), "-c", PLAIN, str(tmp / "manifest.json"), str(tmp / "calls.json")],
                         capture_output=True, text=True, timeout=120, cwd=tmp,
                         env={**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")}, **env})
    assert run.returncode == 0, run.stdout + run.stderr
    return json.loads(run.stdout)  # type: ignore[no-any-return]
