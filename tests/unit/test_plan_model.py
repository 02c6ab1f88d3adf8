"""The plan model: a plan survives its document (what `plan --out` saves) with nothing but data, never
its arguments; `differences` names every change between a saved plan and a fresh one; a saved plan
beside the spec is never shipped in an artifact."""

from __future__ import annotations

import json
from pathlib import Path

from multicloud.files import select
from multicloud.plan import FieldChange, Plan, Step, secret_fingerprint
from multicloud.plan.saved import differences
from multicloud.provider import Change


def _plan(memory: int = 256, state: str = "r1", code: str = "aa11") -> Plan:
    steps = (
        Step("update", "lambda function", "shop-hello", "configuration",
             (FieldChange("memory", 128, memory), FieldChange("TOKEN", secret_fingerprint("old", "s"),
                                                             secret_fingerprint("new", "s"), secret=True)),
             op="lambda.update_configuration", args={"FunctionName": "shop-hello", "MemorySize": memory,
                                                     "Environment": {"TOKEN": "hunter2"}},
             calls=("lambda:UpdateFunctionConfiguration",)),
        Step("noop", "iam role", "shop-hello"),
    )
    return Plan("aws", steps, spec="s1", digest="d" + code, artifacts={"hello": code},
                observed={"lambda function shop-hello": state})


def test_document_round_trip_keeps_data_and_drops_arguments() -> None:
    plan = _plan()
    text = json.dumps(plan.document())
    assert "hunter2" not in text and "new" not in text  # arguments and secret values stay in memory
    loaded = Plan.from_document(json.loads(text))
    assert [s.key() for s in loaded.steps] == [s.key() for s in plan.steps]
    assert loaded.state == plan.state and differences(loaded, plan) == []


def test_a_noop_step_with_arguments_matches_its_saved_document() -> None:
    # a provider may give a noop step the arguments it would run with (local's release step does): they are
    # never run, never saved, and must not make an all-noop plan look out of date
    idle = Plan("local", (Step("noop", "local release", "94941c44", args={"release": "94941c44", "move": False}),))
    assert differences(Plan.from_document(json.loads(json.dumps(idle.document()))), idle) == []


def test_differences_name_what_changed() -> None:
    saved = Plan.from_document(_plan().document())
    assert differences(saved, _plan(memory=512)) == [
        "step update lambda function shop-hello differs: now configuration"]
    assert differences(saved, _plan(state="r2")) == [
        "the target's lambda function shop-hello changed since the plan (someone deployed, or it was edited by hand)"]
    assert differences(saved, _plan(code="bb22")) == ["the artifact of function hello changed (aa11 -> bb22)"]
    drifted = Plan("aws", (Step("update", "lambda function", "shop-hello", "drift: memorysize changed"),),
                   spec="s1", digest="daa11", artifacts={"hello": "aa11"},
                   observed={"lambda function shop-hello": "r1"})
    assert differences(saved, drifted) == [
        "step update lambda function shop-hello differs: now drift: memorysize changed"]
    two = Plan("aws", (*_plan().steps[:1], Step("update", "lambda function", "shop-hello", "code")), spec="s1",
               digest="daa11", artifacts={"hello": "aa11"}, observed={"lambda function shop-hello": "r1"})
    assert differences(saved, two) == ["new step: update lambda function shop-hello (code)"]


def test_old_changes_become_informational_steps() -> None:
    plan = Plan("azure", (Change("update", "function app shop", "drift: x"), Change("noop", "code")))
    assert [(s.kind, s.id, s.drift, s.op) for s in plan.steps] == [
        ("function app", "shop", "drift: x", ""), ("code", "", None, "")]
    assert plan.has_changes and plan.changes == plan.steps


def test_a_saved_plan_beside_the_spec_is_not_shipped(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("x = 1\n")
    (tmp_path / "data.json").write_text('{"kind": "something else"}\n')
    (tmp_path / "plan.json").write_text(json.dumps({"kind": "multicloud-plan", "ok": True}, indent=2,
                                                   sort_keys=True))
    assert list(select(tmp_path).files) == ["app.py", "data.json"]
