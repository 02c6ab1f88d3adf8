"""Saved plans on the real `local` target (CLI, supervisor and runtime processes on 127.0.0.1):
`plan --out` writes what `plan --output json` prints and never a secret value; `deploy --plan` applies a
fresh plan, and refuses (exit 1, nothing applied) one saved before another deploy or a secret rotation,
naming what changed."""

from __future__ import annotations

import json
from pathlib import Path

from test_local_secrets import Service, service  # noqa: F401 - the fixture, shared

SECRETS = ("mapped-3c1f9a77", "plain-51be0d2c", "file-9d24aa61")


def _plan(svc: Service, out: Path) -> dict[str, object]:
    proc = svc.cli("plan", str(svc.root), "--target", "local", "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    saved: dict[str, object] = json.loads(out.read_text())
    return saved


def _apply(svc: Service, plan: Path) -> tuple[int, str]:
    proc = svc.cli("deploy", str(svc.root), "--target", "local", "--plan", str(plan))
    return proc.returncode, proc.stdout + proc.stderr


def _without_timing(doc: dict[str, object]) -> dict[str, object]:
    targets = [{k: v for k, v in t.items() if k != "duration_s"} for t in doc["targets"]]  # type: ignore[attr-defined]
    return {**doc, "targets": targets}


def test_saved_plan_applies_and_a_stale_one_is_refused(service: Service, tmp_path: Path) -> None:  # noqa: F811
    service.set(*SECRETS)
    first = service.root / "plan.json"  # beside the spec, as CI does: a saved plan never ships in the artifact
    saved = _plan(service, first)
    text = first.read_text()
    assert not [s for s in SECRETS if s in text], "a secret value landed in the saved plan"
    printed = service.cli("-o", "json", "plan", str(service.root), "--target", "local")
    assert _without_timing(json.loads(printed.stdout)) == _without_timing(saved)  # the same document
    doc = saved["targets"][0]["plan"]  # type: ignore[index]
    assert doc["format"] == "multicloud-plan/1" and doc["artifacts"].keys() == {"show", "leak"}
    assert [(s["action"], s["resource"], s.get("op")) for s in doc["steps"]][-1][:2] == (
        "create", f"local release {doc['digest'][:16]}")

    code, out = _apply(service, first)
    assert code == 0, out
    assert service.show() == {"MAPPED": SECRETS[0], "PLAIN": SECRETS[1], "FROM_FILE": SECRETS[2]}

    # applied once: the same file is now out of date (the target moved on), and says so
    code, out = _apply(service, first)
    assert code == 1 and "out of date" in out and "create local release" in out, out
    assert "local server" in out, out  # the target's state, named

    # a plan saved before a second deploy by someone else is refused; nothing is applied
    before = tmp_path / "before.json"
    _plan(service, before)
    (service.root / "app.py").write_text((service.root / "app.py").read_text() + "\n# v2\n")
    assert service.deploy()["changed"] is True
    pid_before = service.show()
    code, out = _apply(service, before)
    assert code == 1 and "artifact of function show changed" in out and "deploy state changed" in out, out
    assert service.show() == pid_before

    # a secret rotated after the plan: refused, naming the release step, never the value
    rotation = tmp_path / "rotation.json"
    _plan(service, rotation)
    service.set("mapped-rotated-77", SECRETS[1], SECRETS[2])
    code, out = _apply(service, rotation)
    assert code == 1 and "secret values changed" in out and "mapped-rotated-77" not in out, out
    assert service.show()["MAPPED"] == SECRETS[0]

    # a fresh plan applies, and shows the secret change as fingerprints only
    fresh = tmp_path / "fresh.json"
    doc = _plan(service, fresh)["targets"][0]["plan"]  # type: ignore[index]
    release = doc["steps"][-1]
    secret_field = [f for f in release["fields"] if f["name"] == "secret values"][0]
    assert secret_field["secret"] is True and secret_field["before"] != secret_field["after"]
    assert "mapped-rotated-77" not in fresh.read_text()
    code, out = _apply(service, fresh)
    assert code == 0, out
    assert service.show()["MAPPED"] == "mapped-rotated-77"

    # nothing to change: the plan is all noop steps, and applying it is accepted (and changes nothing)
    idle = tmp_path / "idle.json"
    doc = _plan(service, idle)["targets"][0]["plan"]  # type: ignore[index]
    assert {s["action"] for s in doc["steps"]} == {"noop"}, doc
    code, out = _apply(service, idle)
    assert code == 0 and "out of date" not in out, out


def test_bad_plan_files_exit_2(service: Service, tmp_path: Path) -> None:  # noqa: F811
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    code, out = _apply(service, junk)
    assert code == 2 and "not JSON" in out and "Traceback" not in out, out
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"kind": "multicloud-plan", "service": "another", "targets": []}))
    code, out = _apply(service, other)
    assert code == 2 and "for service 'another'" in out, out
    deployed = tmp_path / "deploy.json"
    deployed.write_text(json.dumps({"ok": True, "service": "rotate", "targets": []}))  # not a plan
    code, out = _apply(service, deployed)
    assert code == 2 and "not a saved plan" in out, out
