"""Plans on azure, against the labelled FAKE of ARM and the SCM site (fake_azure.py; not Azure): applying a
plan makes exactly its steps' write requests, counted on the wire by method and path (`write_calls`), for a
first deploy (Flex and Consumption), an env-only change (the app settings and the drift record: 2 writes), a
drift repair, a queue deleted by hand (1) and a removed queue trigger (its two deletes and the code); planning
makes none, and a re-plan after each is all noop. Saved plans through the CLI: one saved before a hand edit
is refused by `deploy --plan` (exit 1) naming the drift, nothing written; a fresh one shows the repair and
applies it; one saved before somebody else's deploy is refused naming the function app that changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fake_azure import FakeAzure, StaticToken

from multicloud.plan import Plan
from multicloud.project import Project
from multicloud.providers.azure import AzureProvider

pytestmark = pytest.mark.slow


def planned_writes(plan: Plan) -> list[str]:
    return [call for step in plan.steps for call in step.calls]


def apply_counted(fake: FakeAzure, spec: Path) -> tuple[Plan, list[str]]:
    """Plan (no write), then apply that plan: the plan and the write requests the apply made."""
    prov = AzureProvider(Project.load(spec), credential=StaticToken())
    build = prov.build(spec.parent / ".multicloud" / "build" / "azure")
    before = len(fake.requests)
    plan = prov.plan(build)
    assert fake.write_calls(before) == [] and len(fake.requests) > before, "plan made a write call"
    before = len(fake.requests)
    prov.apply(plan, build)
    assert all(s.op or s.action == "noop" for s in plan.steps), [s for s in plan.steps if not s.op]
    return plan, fake.write_calls(before)


def changed(plan: Plan) -> dict[str, str]:
    return {s.resource: s.action for s in plan.steps if s.action != "noop"}


def test_apply_makes_exactly_the_planned_writes(fake: FakeAzure, service: Path) -> None:
    plan, writes = apply_counted(fake, service)  # first deploy: everything
    assert writes == planned_writes(plan), writes
    app = next(s.id for s in plan.steps if s.kind == "function app")
    assert set(changed(plan).values()) == {"create", "update"} and len(writes) == 16, writes
    assert writes[0] == "PUT resourcegroups/orders-rg" and "POST scm:/api/publish" in writes
    assert [w for w in writes if "/queues/" in w] == [
        f"PUT resourcegroups/orders-rg/providers/microsoft.storage/storageaccounts/{s}/queueservices/default/"
        f"queues/{q}" for s in [plan.steps[1].id] for q in ("orders-in", "orders-in-poison")]
    assert writes[-2].endswith("/providers/microsoft.eventgrid/eventsubscriptions/worker-storage")  # after publish
    assert plan.steps[-1].kind == "drift record" and writes[-1].endswith("/tags/default")  # the last write
    site = next(s for s in plan.steps if s.kind == "function app")
    secret = {f.name: f for f in site.fields if f.secret}
    assert set(secret) == {"API_KEY", "AzureWebJobsStorage", "DEPLOYMENT_STORAGE_CONNECTION_STRING", "CLICKS_HUB"}
    assert str(secret["API_KEY"].after).startswith("sha256:")  # a Key Vault reference: its fingerprint only
    assert "vault.azure.net" not in json.dumps(plan.document())

    service.write_text(service.read_text().replace("GREETING: hello", "GREETING: bonjour"))  # an env-only change
    plan, writes = apply_counted(fake, service)
    site_path = f"resourcegroups/orders-rg/providers/microsoft.web/sites/{app}"
    assert changed(plan) == {f"app settings {app}": "update", f"drift record {app}": "update"}, changed(plan)
    assert writes == planned_writes(plan) == [
        f"PUT {site_path}/config/appsettings",  # the settings, then the drift record (a tag merge)
                      f"PATCH {site_path}/providers/microsoft.resources/tags/default"]
    site = next(s for s in plan.steps if s.kind == "app settings")
    assert [(f.name, f.before, f.after) for f in site.fields if f.name == "GREETING"] == [("GREETING", "hello",
                                                                                              "bonjour")]

    s = AzureProvider(Project.load(service), credential=StaticToken()).session()  # drift: a setting edited by hand
    settings = dict(s.web.web_apps.list_application_settings(s.resource_group, app).properties)
    settings["GREETING"] = "edited by hand"
    s.web.web_apps.update_application_settings(s.resource_group, app, {"properties": settings})
    plan, writes = apply_counted(fake, service)
    assert [s.detail for s in plan.steps if s.drift] == ["drift: app setting GREETING changed outside multicloud"]
    assert writes == planned_writes(plan) and len(writes) == 2, writes
    assert fake.app_settings[s.site_id().lower()]["GREETING"] == "bonjour"

    # a queue deleted by hand: recreated alone, labelled from the record
    account = plan.steps[1].id
    queue = f"{s.rg_id()}/providers/Microsoft.Storage/storageAccounts/{account}/queueServices/default/queues/orders-in"
    s.storage.queue.delete(s.resource_group, account, "orders-in")
    plan, writes = apply_counted(fake, service)
    assert changed(plan) == {"storage queue orders-in": "create"}, changed(plan)
    assert [s.detail for s in plan.steps if s.drift] == [
        "drift: storage queue orders-in was deleted outside multicloud"]
    assert writes == planned_writes(plan) == [f"PUT {queue.lower().split('/', 3)[3]}"]

    # a removed queue trigger: its queue and poison queue are deleted, the code (without the function) is
    # published, and that step's tag merge carries the record; nothing else is written
    spec = service.read_text()
    service.write_text(spec.replace("      - queue: {name: orders-in, batch_size: 16}\n", ""))
    plan, writes = apply_counted(fake, service)
    assert changed(plan) == {"storage queue orders-in": "delete", "storage queue orders-in-poison": "delete",
                             "code": "update"}, changed(plan)
    assert writes == planned_writes(plan), writes
    assert [w for w in writes if "/queues/" in w] == [f"DELETE {queue.lower().split('/', 3)[3]}{q}"
                                                      for q in ("", "-poison")]
    assert writes[2:] == ["POST scm:/api/publish", f"PATCH {site_path}/providers/microsoft.resources/tags/default"]
    assert fake.get(queue) is None

    plan, writes = apply_counted(fake, service)  # and then nothing is left to do
    assert not plan.has_changes and writes == []


def test_consumption_first_deploy_writes_what_it_planned(fake: FakeAzure, service: Path) -> None:
    """The run-from-package path: blob upload, the package setting, trigger sync, the release tags."""
    service.write_text(service.read_text().replace("  azure:\n", "  azure:\n    plan: consumption\n"))
    plan, writes = apply_counted(fake, service)
    assert writes == planned_writes(plan), writes
    assert any(w.startswith("PUT blob:/") for w in writes) and writes[-1].endswith("/tags/default")
    plan, writes = apply_counted(fake, service)
    assert not plan.has_changes and writes == []


def _cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "multicloud", *args], cwd=root, capture_output=True, text=True,
                          env={**os.environ, "CI": "true"}, timeout=300)


def test_saved_plan_is_refused_after_a_hand_edit(signed_in: FakeAzure, service: Path) -> None:
    fake, root, plans = signed_in, service.parent, service.parent.parent  # plan files outside the service
    first = plans / "first.json"
    assert _cli(root, "plan", "-t", "azure", "--out", str(first)).returncode == 0
    doc = json.loads(first.read_text())["targets"][0]["plan"]
    assert doc["steps"][0]["op"] == "group.put" and "FAKEKEY" not in first.read_text()
    applied = _cli(root, "deploy", "-t", "azure", "--plan", str(first))
    assert applied.returncode == 0, applied.stdout + applied.stderr

    saved = plans / "saved.json"
    assert _cli(root, "plan", "-t", "azure", "--out", str(saved)).returncode == 0
    prov = AzureProvider(Project.load(service), credential=StaticToken())
    s = prov.session()
    web, rg, app = s.web.web_apps, s.resource_group, s.app_name
    settings = dict(web.list_application_settings(rg, app).properties)
    settings["GREETING"] = "edited by hand"
    web.update_application_settings(rg, app, {"properties": settings})
    before = len(fake.requests)
    refused = _cli(root, "deploy", "-t", "azure", "--plan", str(saved))
    out = refused.stdout + refused.stderr
    assert refused.returncode == 1 and "drift: app setting GREETING changed outside multicloud" in out, out
    assert f"function app {app}" in out
    assert [w for w in fake.write_calls(before) if "/containers/deploy-lock-" not in w] == []  # only the lock's
    assert fake.app_settings[s.site_id().lower()]["GREETING"] == "edited by hand"

    repair = plans / "repair.json"  # a fresh plan shows the repair and applies it
    shown = _cli(root, "plan", "-t", "azure", "--out", str(repair))
    assert "drift: app setting GREETING" in shown.stdout, shown.stdout
    done = _cli(root, "deploy", "-t", "azure", "--plan", str(repair))
    assert done.returncode == 0, done.stdout + done.stderr
    assert fake.app_settings[s.site_id().lower()]["GREETING"] == "hello"

    # a plan saved before somebody else's deploy: refused, naming the function app that changed since
    before = plans / "before.json"
    assert _cli(root, "plan", "-t", "azure", "--out", str(before)).returncode == 0
    spec = service.read_text()
    service.write_text(spec.replace("GREETING: hello", "GREETING: hi"))
    assert _cli(root, "deploy", "-t", "azure").returncode == 0
    service.write_text(spec)  # back to the spec of the saved plan: only the target moved on
    stale = _cli(root, "deploy", "-t", "azure", "--plan", str(before))
    out = stale.stdout + stale.stderr
    assert stale.returncode == 1 and f"the target's function app {app} changed since the plan" in out, out
    assert fake.app_settings[s.site_id().lower()]["GREETING"] == "hi"


def test_hubs_and_consumer_groups_follow_the_spec(fake: FakeAzure, service: Path) -> None:
    """A consumer group renamed: the new one is created, the old one deleted; a stream trigger removed: its
    hub is deleted (its consumer groups with it) and the connection setting goes. Each write is planned."""
    apply_counted(fake, service)
    s = AzureProvider(Project.load(service), credential=StaticToken()).session()
    hub = f"{s.rg_id()}/providers/Microsoft.EventHub/namespaces/{s.eventhub_namespace}/eventhubs/clicks"
    service.write_text(service.read_text().replace("consumer_group: analytics", "consumer_group: reporting"))
    plan, writes = apply_counted(fake, service)
    assert changed(plan) == {"consumer group clicks/reporting": "create", "consumer group clicks/analytics": "delete",
                             "code": "update"}, changed(plan)
    assert writes == planned_writes(plan) and writes[:2] == [f"PUT {hub.lower().split('/', 3)[3]}/consumergroups/"
                                                             "reporting", f"DELETE {hub.lower().split('/', 3)[3]}/"
                                                             "consumergroups/analytics"], writes
    assert fake.get(f"{hub}/consumergroups/analytics") is None and fake.get(f"{hub}/consumergroups/reporting")

    spec = service.read_text()
    service.write_text("\n".join(line for line in spec.splitlines() if "- stream:" not in line) + "\n")
    plan, writes = apply_counted(fake, service)
    assert changed(plan) == {"event hub clicks": "delete", f"app settings {s.app_name}": "update",
                             "code": "update"}, changed(plan)
    assert writes == planned_writes(plan) and f"DELETE {hub.lower().split('/', 3)[3]}" in writes, writes
    assert fake.get(hub) is None and "CLICKS_HUB" not in fake.app_settings[s.site_id().lower()]
    plan, writes = apply_counted(fake, service)
    assert not plan.has_changes and writes == []


def test_a_site_recorded_in_the_previous_layout_reads_as_no_record(fake: FakeAzure, service: Path) -> None:
    """Sites deployed before the shared record carry tags `multicloud-config` and `multicloud-fingerprints`
    instead: no record, so nothing is called drift (a setting edited meanwhile is a plain update), and the
    next deploy writes the record; with nothing else to change that is one tag merge."""
    apply_counted(fake, service)
    s = AzureProvider(Project.load(service), credential=StaticToken()).session()
    web, rg, app = s.web.web_apps, s.resource_group, s.app_name
    tags = {k: v for k, v in web.get(rg, app).tags.items() if not k.startswith("multicloud-record")}
    web.update(rg, app, {"tags": {**tags, "multicloud-config": "0123456789abcdef",  # Web Apps - Update
                                  "multicloud-fingerprints": "1a2b3c4d 5e6f7a8b"}})

    plan, writes = apply_counted(fake, service)
    assert changed(plan) == {f"drift record {app}": "update"} and not any(st.drift for st in plan.steps)
    assert writes == planned_writes(plan) == [f"PATCH {s.site_id().lower().split('/', 3)[3]}/providers/"
                                              "microsoft.resources/tags/default"]
    plan, writes = apply_counted(fake, service)
    assert not plan.has_changes and writes == []

    web.update(rg, app, {"tags": {**tags, "multicloud-config": "0123456789abcdef"}})  # old layout again
    settings = dict(web.list_application_settings(rg, app).properties)
    web.update_application_settings(rg, app, {"properties": {**settings, "GREETING": "edited by hand"}})
    plan, writes = apply_counted(fake, service)
    assert changed(plan) == {f"app settings {app}": "update", f"drift record {app}": "update"}
    assert not any(st.drift for st in plan.steps)
    assert writes == planned_writes(plan) and fake.app_settings[s.site_id().lower()]["GREETING"] == "hello"


def test_a_failed_deploy_leaves_the_previous_record(fake: FakeAzure, service: Path) -> None:
    """The record is the deploy's last write: when the publish fails after the app settings changed, the site
    keeps the previous record, so the next plan calls nothing drift and finishes the deploy."""
    from multicloud.errors import OperationError

    apply_counted(fake, service)
    s = AzureProvider(Project.load(service), credential=StaticToken()).session()
    recorded = {k: v for k, v in fake.get(s.site_id())["tags"].items() if k.startswith("multicloud-record")}  # type: ignore[index]
    service.write_text(service.read_text().replace("GREETING: hello", "GREETING: bonjour"))
    (service.parent / "handler.py").write_text((service.parent / "handler.py").read_text() + "\n# v2\n")
    fake.fail_next_publish = True
    with pytest.raises(OperationError, match="failed"):
        apply_counted(fake, service)
    assert fake.app_settings[s.site_id().lower()]["GREETING"] == "bonjour"  # the settings step ran
    now = {k: v for k, v in fake.get(s.site_id())["tags"].items() if k.startswith("multicloud-record")}  # type: ignore[index]
    assert now == recorded
    plan, writes = apply_counted(fake, service)
    assert changed(plan) == {"code": "update"} and not any(st.drift for st in plan.steps), changed(plan)
    assert writes == planned_writes(plan) and writes[-1].endswith("/tags/default")  # publish, record and release
    plan, writes = apply_counted(fake, service)
    assert not plan.has_changes and writes == []
