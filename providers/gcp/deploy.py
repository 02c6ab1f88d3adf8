"""Plan and apply: read every function back from the platform, diff, then upload/create/patch/delete.

Idempotent by construction: a function whose `multicloud-source` label matches the build and whose managed
fields match the spec is left alone (no upload, no update); otherwise only the differing fields go in
the update mask. Functions and Scheduler jobs of this service that the spec no longer names are deleted.
A resource with the right name but without our ownership labels is never touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from multicloud.errors import MulticloudError, OperationError
from multicloud.project import Project
from multicloud.provider import (
    BuildResult,
    Change,
    DeployResult,
    Endpoint,
    FunctionStatus,
    Plan,
    Progress,
    RemoveResult,
    StatusReport,
    no_progress,
)
from multicloud.state import clear_state, read_state, write_state

from . import drift
from .clients import GcpClients
from .model import CloudFunction, cloud_functions, settings_of
from .pubsub import PubSub
from .resources import (
    FUNCTION_RECORD_FIELDS,
    INVOKER_ROLE,
    JOB_MASK_FIELDS,
    MANAGED_BY,
    MASK_FIELDS,
    SOURCE_LABEL,
    changed_fields,
    desired_function,
    desired_job,
    function_name,
    invoker_members,
    owns_job,
    record_free_labels,
    source_label,
    wanted_invokers,
)

OPERATION_TIMEOUT_S = 900


@dataclass
class FunctionPlan:
    cf: CloudFunction
    current: dict[str, Any] | None
    mask: list[str] = field(default_factory=list)
    upload: bool = False
    replace: bool = False  # HTTP <-> event trigger cannot be updated in place: delete, then create
    recorded: dict[str, str] | None = None  # what the last deploy applied (drift.py), None: no record
    made: dict[str, str] = field(default_factory=dict)  # what this spec applies
    detail: str = ""

    @property
    def action(self) -> str:
        if self.current is None:
            return "create"
        return "update" if self.mask or self.upload or self.replace else "noop"


@dataclass(frozen=True)
class JobPlan:
    action: str  # create | update | noop
    want: dict[str, Any]
    mask: list[str]
    detail: str
    resume: bool = False  # paused outside multicloud

    @property
    def job_id(self) -> str:
        return str(self.want["name"]).rsplit("/", 1)[1]


def _carried(mask: list[str], carrier: str, same_without_record: bool) -> tuple[list[str], list[str]]:
    """(fields to classify, fields that differ only by the record or source they carry: plain)."""
    if carrier in mask and same_without_record:
        return [f for f in mask if f != carrier], [carrier]
    return list(mask), []


def to_dict(message: Any) -> dict[str, Any]:
    data: dict[str, Any] = type(message).to_dict(message, preserving_proto_field_name=True,
                                                 use_integers_for_enums=False)
    return data


class Deployer:
    def __init__(self, project: Project, clients: GcpClients) -> None:
        self.project = project
        self.clients = clients
        self.settings = settings_of(project)

    @cached_property
    def pubsub(self) -> PubSub:
        return PubSub(self.clients, self.project.name)

    def queue_topics(self) -> set[str]:
        return {self.pubsub.topic(cf.event_trigger.topic) for cf in self.functions
                if cf.event_trigger is not None and cf.event_trigger.topic is not None}

    def _uses_pubsub(self, owned: list[dict[str, Any]]) -> bool:
        """Whether dead letters may exist: a queue function in the spec or among the deployed ones (so a
        service that never read a topic never needs the Pub/Sub API)."""
        return bool(self.queue_topics()) or any((f.get("event_trigger") or {}).get("pubsub_topic") for f in owned)

    @cached_property
    def functions(self) -> list[CloudFunction]:
        # lazy: `remove` works from ownership labels alone, even for a spec gcp can no longer map
        return cloud_functions(self.project)

    # ---- reading ---------------------------------------------------------------------------------
    def get_function(self, cf: CloudFunction) -> dict[str, Any] | None:
        from google.api_core.exceptions import NotFound

        try:
            fn = self.clients.functions.get_function(name=function_name(self.clients.location, cf))
        except NotFound:
            return None
        current = to_dict(fn)
        labels = current.get("labels", {})
        if labels.get(MANAGED_BY[0]) != MANAGED_BY[1] or labels.get("multicloud-service") != self.project.name:
            raise OperationError(
                f"Cloud Function {cf.function_id} exists but is not managed by multicloud for service "
                f"{self.project.name!r} (labels {labels})",
                fix="delete or rename that function, or rename this service or function in the spec",
                where=current.get("name"),
            )
        return current

    def owned_functions(self) -> list[dict[str, Any]]:
        found = []
        for fn in self.clients.functions.list_functions(parent=self.clients.location):
            data = to_dict(fn)
            labels = data.get("labels", {})
            if labels.get(MANAGED_BY[0]) == MANAGED_BY[1] and labels.get("multicloud-service") == self.project.name:
                found.append(data)
        return found

    def owned_jobs(self) -> list[dict[str, Any]]:
        return [d for job in self.clients.scheduler.list_jobs(parent=self.clients.location)
                if owns_job(d := to_dict(job), self.project.name)]

    def cached_record(self, cf: CloudFunction) -> tuple[bool, str | None]:
        """(the state cache says a deploy made this function here, the record it cached): for a function
        that is gone, whose labels went with it."""
        state = read_state(self.project, "gcp")
        if (state.get("project"), state.get("region")) != (self.clients.project_id, self.clients.region):
            return False, None
        facts = state.get("functions", {}).get(cf.function)
        return isinstance(facts, dict), (facts or {}).get("record") if isinstance(facts, dict) else None

    def function_plan(self, cf: CloudFunction, source_sha: str | None) -> FunctionPlan:
        current = self.get_function(cf)
        sha = source_sha or ""
        want = desired_function(cf, self.settings, self.clients.project_id, self.clients.location, sha)
        made = drift.decode(FUNCTION_RECORD_FIELDS, want["labels"][drift.RECORD_LABEL]) or {}
        if current is None:
            deployed, cached = self.cached_record(cf)
            return FunctionPlan(cf, None, upload=True, recorded=drift.decode(FUNCTION_RECORD_FIELDS, cached),
                                made=made, detail=drift.deleted("the function") if deployed else "")
        labels = current.get("labels", {})
        if source_sha is None:  # no build: compare configuration only
            want["labels"][SOURCE_LABEL] = labels.get(SOURCE_LABEL, "")
        upload = source_sha is not None and labels.get(SOURCE_LABEL) != source_label(sha)
        upload = upload or current.get("state") == "FAILED"
        mask = changed_fields(want, current, MASK_FIELDS)
        replace = bool(current.get("event_trigger", {}).get("event_type")) != ("event_trigger" in want)
        recorded = drift.decode(FUNCTION_RECORD_FIELDS, labels.get(drift.RECORD_LABEL))
        changed, carried = _carried(mask, "labels", record_free_labels(labels) == record_free_labels(want["labels"]))
        plain, drifted = drift.split(changed, recorded, made)
        detail = drift.detail((["build_config.source"] if upload else []) + plain + carried, drifted)
        if replace:
            detail = "replace (delete, then create): an HTTP function cannot become event-triggered or back"
        return FunctionPlan(cf, current, mask, upload, replace, recorded, made, detail)

    def invoker_change(self, fp: FunctionPlan) -> tuple[dict[str, Any], set[str], Change] | None:
        """(policy, members wanted, plan line) of an existing function's Cloud Run invokers."""
        service = (fp.current or {}).get("service_config", {}).get("service")
        if not service:
            return None
        policy = self.clients.rest("GET", "run", f"v2/{service}:getIamPolicy")
        members = invoker_members(policy)
        want = wanted_invokers(members, fp.cf, self.settings)
        resource = f"iam invokers {fp.cf.function_id}"
        if want == members:
            return policy, want, Change("noop", resource)
        plain, drifted = drift.split(["invokers"], fp.recorded, fp.made)
        detail = drift.detail([INVOKER_ROLE] * bool(plain), [f"{INVOKER_ROLE} members"] * bool(drifted))
        return policy, want, Change("update", resource, detail)

    # ---- plan ------------------------------------------------------------------------------------
    def plan(self, build: BuildResult | None) -> Plan:
        changes: list[Change] = []
        wanted = {cf.function_id for cf in self.functions}
        for cf in self.functions:
            fp = self.function_plan(cf, build.digest if build else None)
            changes.append(Change(fp.action, f"function {cf.function_id}", fp.detail))  # type: ignore[arg-type]
            if fp.current is not None and not fp.replace:
                invokers = self.invoker_change(fp)
                changes += [invokers[2]] if invokers else []
            url = (fp.current or {}).get("service_config", {}).get("uri", "")
            changes += [Change(jp.action, f"scheduler job {jp.job_id}", jp.detail)  # type: ignore[arg-type]
                        for jp in self.job_plans(fp, url)]
            if cf.event_trigger is not None and cf.event_trigger.topic is not None:
                changes += [step.change for step in self.pubsub.steps(cf, None if fp.replace else fp.current)]
        owned = self.owned_functions()
        for fn in owned:
            if fn["name"].rsplit("/", 1)[1] not in wanted:
                changes.append(Change("delete", f"function {fn['name'].rsplit('/', 1)[1]}", "not in the spec"))
        if self._uses_pubsub(owned):
            subs, topics = self.pubsub.owned()
            keep = {f"{p.rsplit('/', 1)[1]}-dlq" for p in self.queue_topics()}
            changes += [Change("delete", f"pubsub {kind} {path.rsplit('/', 1)[1]}", "not in the spec")
                        for kind, paths in (("subscription", subs), ("topic", topics))
                        for path in paths if path.rsplit("/", 1)[1] not in keep]
        wanted_jobs = {s.job_id for cf in self.functions for s in cf.schedules}
        for job in self.owned_jobs():
            if job["name"].rsplit("/", 1)[1] not in wanted_jobs:
                changes.append(Change("delete", f"scheduler job {job['name'].rsplit('/', 1)[1]}", "not in the spec"))
        return Plan("gcp", tuple(changes))

    # ---- apply -----------------------------------------------------------------------------------
    def deploy(self, build: BuildResult, progress: Progress = no_progress) -> DeployResult:
        """Read everything first (so a conflict fails before any change), start every create/update so
        the platform builds them concurrently, wait for all, then reconcile invokers and schedules."""
        zip_path = build.artifacts[0].path if build.artifacts else None
        plans = [self.function_plan(cf, build.digest) for cf in self.functions]
        started = [(fp, self._start(fp, build.digest, zip_path, progress)) for fp in plans if fp.action != "noop"]
        finished: dict[str, dict[str, Any]] = {}
        errors: list[OperationError] = []
        for fp, op in started:
            try:
                finished[fp.cf.function_id] = self._finish(fp.cf, op)
            except OperationError as exc:
                errors.append(exc)
        if errors:
            if len(errors) == 1:
                raise errors[0]
            raise OperationError("; ".join(e.what for e in errors), fix=errors[0].fix) from errors[0].__cause__
        endpoints: list[Endpoint] = []
        changed = bool(started)
        facts: dict[str, Any] = {}
        for fp in plans:
            cf = fp.cf
            fn = finished.get(cf.function_id) or fp.current
            assert fn is not None
            url = fn.get("service_config", {}).get("uri") or fn.get("url", "")
            changed |= self._ensure_invokers(FunctionPlan(cf, fn, recorded=fp.recorded, made=fp.made), progress)
            changed |= self._ensure_jobs(fp, url, progress)
            if cf.event_trigger is not None and cf.event_trigger.topic is not None:
                changed |= self.pubsub.converge(cf, fn, progress)
            if cf.signature == "http":
                endpoints.append(Endpoint(cf.function, url, "none" if cf.public else "iam"))
            facts[cf.function] = {"id": cf.function_id, "url": url, "signature": cf.signature,
                                  "source": source_label(build.digest),
                                  "record": fn.get("labels", {}).get(drift.RECORD_LABEL, "")}
        changed |= self._delete_stale(progress)
        # a cache only: plan, deploy, invoke and status read every function back from the platform
        write_state(self.project, "gcp", {"project": self.clients.project_id, "region": self.clients.region,
                                          "digest": build.digest, "functions": facts})
        return DeployResult("gcp", build.digest[:12], changed, tuple(endpoints),
                            {"project": self.clients.project_id, "region": self.clients.region})

    def _start(self, fp: FunctionPlan, digest: str, zip_path: Any, progress: Progress) -> Any:
        """Upload if needed and send the create or update; returns the long-running operation."""
        from google.cloud import functions_v2
        from google.protobuf import field_mask_pb2

        cf = fp.cf
        client = self.clients.functions
        if fp.replace:
            progress(f"gcp: replacing {cf.function_id} (trigger kind changed)")
            client.delete_function(name=function_name(self.clients.location, cf)).result(timeout=OPERATION_TIMEOUT_S)
            fp = FunctionPlan(cf, None, upload=True)
        want = desired_function(cf, self.settings, self.clients.project_id, self.clients.location, digest)
        mask = list(fp.mask)
        if fp.upload:
            progress(f"gcp: uploading source for {cf.function_id}")
            want["build_config"]["source"] = {"storage_source": self._upload(zip_path)}
            mask = ["build_config.source", *mask]
            if "labels" not in mask:
                mask.append("labels")
        if fp.current is None:
            progress(f"gcp: creating {cf.function_id}" + (f" ({fp.detail})" if fp.detail else ""))
            return client.create_function(parent=self.clients.location, function=functions_v2.Function(want),
                                          function_id=cf.function_id)
        progress(f"gcp: updating {cf.function_id} ({fp.detail or ', '.join(mask)})")
        return client.update_function(function=functions_v2.Function(want),
                                      update_mask=field_mask_pb2.FieldMask(paths=mask))

    def _finish(self, cf: CloudFunction, op: Any) -> dict[str, Any]:
        from google.api_core.exceptions import GoogleAPICallError

        try:
            result = op.result(timeout=OPERATION_TIMEOUT_S)
        except GoogleAPICallError as exc:
            raise OperationError(
                f"deploying Cloud Function {cf.function_id} failed: {exc.message}",
                fix="read the build log linked in the message; fix the code or requirements and deploy again "
                    "(the function keeps serving its previous revision, if any)",
                where=function_name(self.clients.location, cf),
            ) from exc
        data = to_dict(result)
        if data.get("state") == "FAILED":
            messages = "; ".join(m.get("message", "") for m in data.get("state_messages", []))
            raise OperationError(f"Cloud Function {cf.function_id} deployed in state FAILED: {messages}",
                                 fix="read the build and runtime logs (`multicloud logs --target gcp`)",
                                 where=data.get("name"))
        return data

    def _upload(self, zip_path: Any) -> dict[str, Any]:
        import requests

        if zip_path is None:
            raise OperationError("the build has no source zip", fix="run `multicloud build --target gcp` first")
        response = self.clients.functions.generate_upload_url(request={"parent": self.clients.location})
        with open(zip_path, "rb") as fh:
            put = requests.put(response.upload_url, data=fh, headers={"Content-Type": "application/zip"},
                               timeout=300)
        if put.status_code >= 300:
            raise OperationError(
                f"uploading the source zip failed: HTTP {put.status_code} {put.text[:200]}",
                fix="retry the deploy; the signed upload URL is only valid for a few minutes",
            )
        src = response.storage_source
        return {"bucket": src.bucket, "object_": src.object_, "generation": src.generation} if src.generation \
            else {"bucket": src.bucket, "object_": src.object_}

    def _ensure_invokers(self, fp: FunctionPlan, progress: Progress) -> bool:
        """Cloud Run IAM: allUsers may invoke public functions; the invoker identity private ones."""
        found = self.invoker_change(fp)
        if found is None or found[2].action == "noop":
            return False
        policy, want, change = found
        progress(f"gcp: setting invokers of {fp.cf.function_id}" + (f" ({change.detail})" if change.detail else ""))
        bindings = [dict(b) for b in policy.get("bindings", []) if b.get("role") != INVOKER_ROLE]
        if want:
            bindings.append({"role": INVOKER_ROLE, "members": sorted(want)})
        new_policy = {**{k: v for k, v in policy.items() if k != "bindings"}, "bindings": bindings}
        self.clients.rest("POST", "run", f"v2/{fp.current['service_config']['service']}:setIamPolicy",  # type: ignore[index]
                          {"policy": new_policy})
        return True

    def job_plans(self, fp: FunctionPlan, url: str) -> list[JobPlan]:
        """What each schedule of a function needs. `url` is the function's ("" when it does not exist yet:
        a job that exists keeps the URL it has, the one a re-created function gets back)."""
        from google.api_core.exceptions import NotFound

        cf = fp.cf
        out: list[JobPlan] = []
        for sched in cf.schedules:
            name = f"{self.clients.location}/jobs/{sched.job_id}"
            try:
                current: dict[str, Any] | None = to_dict(self.clients.scheduler.get_job(name=name))
            except NotFound:
                current = None
            uri = url or (current or {}).get("http_target", {}).get("uri", "")
            want = desired_job(cf, sched, self.settings, self.clients.location, self.project.name, uri)
            if current is None:
                was = drift.split(["scheduler_jobs"], fp.recorded, fp.made)[1]
                out.append(JobPlan("create", want, [], drift.deleted("the job") if was else want["schedule"]))
                continue
            if not owns_job(current, self.project.name):
                raise OperationError(
                    f"Cloud Scheduler job {sched.job_id} exists but is not managed by multicloud",
                    fix="delete or rename that job", where=want["name"])
            mask = changed_fields(want, current, JOB_MASK_FIELDS)
            (base, record), (wanted_base, made) = (drift.job_record(str(d.get("description", "")))
                                                   for d in (current, want))
            changed, carried = _carried(mask, "description", base == wanted_base)
            plain, drifted = drift.split(changed, drift.decode(JOB_MASK_FIELDS, record),
                                         drift.decode(JOB_MASK_FIELDS, made) or {})
            paused = current.get("state") == "PAUSED"  # multicloud never pauses a job
            drifted += ["state (paused)"] * paused
            out.append(JobPlan("update" if mask or paused else "noop", want, mask,
                               drift.detail(plain + carried, drifted), paused))
        return out

    def _ensure_jobs(self, fp: FunctionPlan, url: str, progress: Progress) -> bool:
        from google.cloud import scheduler_v1
        from google.protobuf import field_mask_pb2

        changed = False
        for jp in self.job_plans(fp, url):
            if jp.action == "create":
                why = f" ({jp.detail})" if jp.detail.startswith("drift") else ""
                progress(f"gcp: creating scheduler job {jp.job_id}{why}")
                self.clients.scheduler.create_job(parent=self.clients.location, job=scheduler_v1.Job(jp.want))
            if jp.mask:
                progress(f"gcp: updating scheduler job {jp.job_id} ({jp.detail})")
                self.clients.scheduler.update_job(job=scheduler_v1.Job(jp.want),
                                                  update_mask=field_mask_pb2.FieldMask(paths=jp.mask))
            if jp.resume:
                progress(f"gcp: resuming scheduler job {jp.job_id} (paused outside multicloud)")
                self.clients.scheduler.resume_job(name=jp.want["name"])
            changed |= jp.action != "noop"
        return changed

    def _delete_stale(self, progress: Progress) -> bool:
        wanted = {cf.function_id for cf in self.functions}
        wanted_jobs = {s.job_id for cf in self.functions for s in cf.schedules}
        changed = False
        for job in self.owned_jobs():
            if job["name"].rsplit("/", 1)[1] not in wanted_jobs:
                progress(f"gcp: deleting scheduler job {job['name']}")
                self.clients.scheduler.delete_job(name=job["name"])
                changed = True
        owned = self.owned_functions()
        for fn in owned:
            if fn["name"].rsplit("/", 1)[1] not in wanted:
                progress(f"gcp: deleting {fn['name']}")
                self.clients.functions.delete_function(name=fn["name"]).result(timeout=OPERATION_TIMEOUT_S)
                changed = True
        if self._uses_pubsub(owned):
            changed |= bool(self.pubsub.delete(self.queue_topics(), progress))
        return changed

    # ---- status and remove -----------------------------------------------------------------------
    def status(self) -> StatusReport:
        out = []
        for cf in self.functions:
            current = self.get_function(cf)
            if current is None:
                out.append(FunctionStatus(cf.function, "missing"))
                continue
            messages = "; ".join(m.get("message", "") for m in current.get("state_messages", []))
            out.append(FunctionStatus(
                cf.function, str(current.get("state", "UNKNOWN")).lower(),
                version=current.get("labels", {}).get(SOURCE_LABEL),
                endpoint=current.get("service_config", {}).get("uri") or current.get("url") or None,
                detail=messages,
            ))
        deployed = any(f.state != "missing" for f in out)
        return StatusReport("gcp", deployed, tuple(out),
                            {"project": self.clients.project_id, "region": self.clients.region})

    def remove(self, progress: Progress = no_progress) -> RemoveResult:
        removed: list[str] = []
        for job in self.owned_jobs():
            progress(f"gcp: deleting scheduler job {job['name']}")
            self.clients.scheduler.delete_job(name=job["name"])
            removed.append(job["name"])
        owned = self.owned_functions()
        try:
            queues = any(cf.event_trigger is not None and cf.event_trigger.topic for cf in self.functions)
        except MulticloudError:  # a spec gcp cannot map any more: go by what is deployed
            queues = False
        if queues or any((f.get("event_trigger") or {}).get("pubsub_topic") for f in owned):
            removed += self.pubsub.delete(set(), progress)  # the dead letters go with the service
        for fn in owned:
            progress(f"gcp: deleting {fn['name']}")
            self.clients.functions.delete_function(name=fn["name"]).result(timeout=OPERATION_TIMEOUT_S)
            removed.append(fn["name"])
        clear_state(self.project, "gcp")
        return RemoveResult("gcp", tuple(removed))
