"""Saved plans: the file `plan --out` writes, and the check `deploy --plan` makes before applying it.

The file is exactly what `plan --output json` prints: per target its changes and its plan document
(`Plan.document`). Applying never trusts the file's steps: the target is planned again, under the deploy
lock, and the saved plan is applied only if the fresh one is the same (same spec, same artifacts, same
steps, same state reported by the target). Otherwise the deploy is refused, naming every difference.
"""

from __future__ import annotations

import json
from pathlib import Path

from multicloud.errors import OperationError, UsageError
from multicloud.plan.model import FORMAT, Plan, Step

KIND = "multicloud-plan"  # the first key of the document (multicloud.files never ships such a file)
FIX = "review a fresh plan (`multicloud plan ... --out plan.json`), have it approved, and apply that one"


def load(path: Path, service: str) -> dict[str, Plan]:
    """The plans in a saved file, by target. Bad input (not a plan file, another service) exits 2."""
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise UsageError(f"cannot read the plan file: {exc.strerror}", where=str(path),
                         fix="pass the file `multicloud plan --out FILE` wrote") from exc
    except ValueError as exc:
        raise UsageError(f"the plan file is not JSON: {exc}", where=str(path),
                         fix="pass the file `multicloud plan --out FILE` wrote") from exc
    targets = data.get("targets") if isinstance(data, dict) else None
    if not isinstance(targets, list):
        raise UsageError("the plan file has no `targets` list", where=str(path),
                         fix="pass the file `multicloud plan --out FILE` (or `plan --output json`) wrote")
    if data.get("kind") != KIND:
        raise UsageError(f"not a saved plan (no \"kind\": \"{KIND}\")", where=str(path),
                         fix="pass the file `multicloud plan --out FILE` (or `plan --output json`) wrote")
    if data.get("service") != service:
        raise UsageError(f"the plan file is for service {data.get('service')!r}, not {service!r}", where=str(path),
                         fix="apply it with the spec it was made from")
    out: dict[str, Plan] = {}
    for entry in targets:
        doc = entry.get("plan") if isinstance(entry, dict) else None
        if not isinstance(doc, dict):
            name = entry.get("target") if isinstance(entry, dict) else entry
            raise UsageError(f"target {name!r} has no plan in the file (its planning failed?)", where=str(path),
                             fix="make a plan that succeeds on every target, or pass --target")
        try:
            plan = Plan.from_document(doc)
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"the plan of target {entry.get('target')!r} is not a {FORMAT} document: {exc}",
                             where=str(path), fix="pass the file `multicloud plan --out FILE` wrote") from exc
        out[plan.target] = plan
    return out


def differences(saved: Plan, fresh: Plan) -> list[str]:
    """What changed between the saved plan and a fresh one, each named; empty when they agree."""
    out: list[str] = []
    if saved.spec != fresh.spec:
        out.append("the spec changed")
    for function in sorted(set(saved.artifacts) | set(fresh.artifacts)):
        was, now = saved.artifacts.get(function), fresh.artifacts.get(function)
        if was != now:
            out.append(f"the artifact of function {function} changed ({_short(was)} -> {_short(now)})")
    if saved.digest != fresh.digest and not any(o.startswith("the artifact") for o in out):
        out.append(f"the build digest changed ({_short(saved.digest)} -> {_short(fresh.digest)})")
    out += _step_differences(saved, fresh)
    for resource in sorted(set(saved.observed) | set(fresh.observed)):
        if saved.observed.get(resource) != fresh.observed.get(resource):
            how = ("appeared" if resource not in saved.observed else
                   "is gone" if resource not in fresh.observed else "changed")
            out.append(f"the target's {resource} {how} since the plan (someone deployed, or it was edited by hand)")
    return out


def _step_differences(saved: Plan, fresh: Plan) -> list[str]:
    was, now = _keyed(saved), _keyed(fresh)
    out: list[str] = []
    for key, step in now.items():
        if key not in was and step.action != "noop":
            out.append(f"new step: {step.action} {step.resource}" + (f" ({step.detail})" if step.detail else ""))
        elif key in was and was[key].key() != step.key():
            out.append(f"step {step.action} {step.resource} differs: now {step.detail or 'other arguments'}")
    for key, step in was.items():
        if key not in now and step.action != "noop":
            out.append(f"planned step no longer needed: {step.action} {step.resource}")
    if not out and [s.key() for s in saved.steps] != [s.key() for s in fresh.steps]:
        out.append("the steps are the same but in another order")
    return out


def _keyed(plan: Plan) -> dict[tuple[str, str, int], Step]:
    """Steps by (resource, action, n): one resource can have several steps of one action (code, then
    configuration), matched in order."""
    out: dict[tuple[str, str, int], Step] = {}
    for step in plan.steps:
        n = sum(1 for key in out if key[:2] == (step.resource, step.action))
        out[(step.resource, step.action, n)] = step
    return out


def _short(digest: str | None) -> str:
    return digest[:12] if digest else "none"


def refuse(target: str, changes: list[str], path: Path | None) -> OperationError:
    """The error `deploy --plan` exits 1 with when the target or spec moved on since the plan."""
    listed = "; ".join(changes)
    return OperationError(f"{target}: the saved plan is out of date, nothing was applied: {listed}", fix=FIX,
                          where=str(path) if path else None)


