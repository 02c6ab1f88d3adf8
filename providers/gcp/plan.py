"""Plan: read every function, job, invoker policy and dead-letter resource back from the platform
(deployed.py), compare with the spec, and record one step per write; `apply.apply` runs exactly those
steps.

Idempotent by construction: a function whose `multicloud-source` label matches the build and whose managed
fields match the spec is left alone (no upload, no update); otherwise only the differing fields go in
the update mask. Functions and Scheduler jobs of this service that the spec no longer names are deleted.
A resource with the right name but without our ownership labels is never touched: planning fails before
any write. Order: every function write first (their builds run concurrently, see apply.py), then
invokers, jobs and dead letters, then what the spec dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from multicloud.errors import OperationError
from multicloud.plan import FieldChange, fingerprint, secret_fingerprint
from multicloud.provider import BuildResult, Plan

from . import drift
from .clients import to_dict
from .context import Run, ref
from .deployed import Deployed
from .model import CloudFunction
from .resources import (
    INVOKER_ROLE,
    JOB_MASK_FIELDS,
    MASK_FIELDS,
    SOURCE_LABEL,
    changed_fields,
    desired_function,
    desired_job,
    function_record_values,
    get_path,
    invoker_members,
    job_item,
    job_record_values,
    owns_job,
    record_free_labels,
    source_label,
    wanted_invokers,
)

SECRET_FIELDS = ("service_config.environment_variables", "service_config.secret_environment_variables")


def observed_function(fn: dict[str, Any] | None) -> str:
    """What identifies a function as deployed now: its update time, state and managed fields."""
    if fn is None:
        return "missing"
    return fingerprint([fn.get("update_time"), fn.get("state"), fn.get("labels"),
                        [get_path(fn, path) for path in MASK_FIELDS]])


def observed_job(job: dict[str, Any] | None) -> str:
    if job is None:
        return "missing"
    return fingerprint([job.get("user_update_time"), job.get("state"), [get_path(job, p) for p in JOB_MASK_FIELDS]])


def _uri(fn: dict[str, Any]) -> str:
    return str((fn.get("service_config") or {}).get("uri") or fn.get("url") or "")


def _plain(data: dict[str, Any] | None, path: str) -> object:
    value = get_path(data or {}, path)
    return value if isinstance(value, (str, int, float, bool, type(None))) else fingerprint(value)


def field_changes(want: dict[str, Any], current: dict[str, Any], mask: list[str], salt: str) -> list[FieldChange]:
    """What a function update changes: environment and secret references as salted fingerprints only."""
    out = []
    for path in mask:
        if path == "build_config.source":
            out.append(FieldChange("source", (current.get("labels") or {}).get(SOURCE_LABEL),
                                   want["labels"][SOURCE_LABEL]))
        elif path in SECRET_FIELDS:
            out.append(FieldChange(path, secret_fingerprint(repr(get_path(current, path)), salt),
                                   secret_fingerprint(repr(get_path(want, path)), salt), secret=True))
        else:
            out.append(FieldChange(path, _plain(current, path), _plain(want, path)))
    return out


@dataclass
class FunctionPlan:
    cf: CloudFunction
    current: dict[str, Any] | None
    mask: list[str] = field(default_factory=list)
    upload: bool = False
    replace: bool = False  # HTTP <-> event trigger cannot be updated in place: delete, then create
    record: drift.Record = field(default_factory=lambda: drift.Record(None))  # what the last deploy made
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
    current: dict[str, Any] | None = None

    @property
    def job_id(self) -> str:
        return str(self.want["name"]).rsplit("/", 1)[1]


def _carried(mask: list[str], carrier: str, same_without_record: bool) -> tuple[list[str], list[str]]:
    """(fields to classify, fields that differ only by the record or source they carry: plain)."""
    if carrier in mask and same_without_record:
        return [f for f in mask if f != carrier], [carrier]
    return list(mask), []


class Planner(Deployed):
    """The service's resources read back (Deployed), compared with the spec: steps."""

    def function_plan(self, cf: CloudFunction, source_sha: str | None) -> FunctionPlan:
        current = self.get_function(cf)
        sha = source_sha or ""
        want = desired_function(cf, self.settings, self.clients.project_id, self.clients.location, sha)
        if current is None:
            deployed, cached = self.cached_record(cf)
            return FunctionPlan(cf, None, upload=True, record=drift.Record.of_text(cached),
                                detail=drift.deleted("the function") if deployed else "")
        labels = current.get("labels", {})
        if source_sha is None:  # no build: compare configuration only
            want["labels"][SOURCE_LABEL] = labels.get(SOURCE_LABEL, "")
        upload = source_sha is not None and labels.get(SOURCE_LABEL) != source_label(sha)
        upload = upload or current.get("state") == "FAILED"
        mask = changed_fields(want, current, MASK_FIELDS)
        replace = bool(current.get("event_trigger", {}).get("event_type")) != ("event_trigger" in want)
        record = drift.Record.of_labels(labels)
        changed, carried = _carried(mask, "labels", record_free_labels(labels) == record_free_labels(want["labels"]))
        plain, drifted = drift.split(record, drift.FUNCTION, changed, function_record_values(current),
                                     function_record_values(want))
        detail = drift.detail((["build_config.source"] if upload else []) + plain + carried, drifted)
        if replace:
            detail = "replace (delete, then create): an HTTP function cannot become event-triggered or back"
        return FunctionPlan(cf, current, mask, upload, replace, record, detail)

    # ---- plan: reads only, one step per write --------------------------------------------------------
    def plan(self, build: BuildResult) -> Plan:
        run = Run()
        plans = [self.function_plan(cf, build.digest) for cf in self.functions]  # all read before any step
        urls: dict[str, Any] = {}
        for fp in plans:
            urls[fp.cf.function] = self._plan_function(run, fp, build.digest)
        facts: dict[str, Any] = {}
        endpoints: list[tuple[str, Any, str]] = []
        for fp in plans:
            cf, url = fp.cf, urls[fp.cf.function]
            self._plan_invokers(run, fp)
            # a job calls the URL the function has now (a patch keeps it), or the one its create makes
            job_url = url if fp.current is None or fp.replace else _uri(fp.current)
            for jp in self.job_plans(run, fp, job_url):
                self._plan_job(run, jp)
            if cf.event_trigger is not None and cf.event_trigger.topic is not None:
                self.pubsub.plan(run, cf, None if fp.replace else fp.current)
            if cf.signature == "http":
                endpoints.append((cf.function, url, "none" if cf.public else "iam"))
            want = desired_function(cf, self.settings, self.clients.project_id, self.clients.location, build.digest)
            facts[cf.function] = {"id": cf.function_id, "url": url, "signature": cf.signature,
                                  "source": source_label(build.digest),
                                  "record": drift.Record.of_labels(want["labels"]).value}
        self._plan_stale(run)
        return Plan("gcp", tuple(run.steps), observed=dict(run.observed),
                    memo={"facts": facts, "endpoints": endpoints})

    def _plan_function(self, run: Run, fp: FunctionPlan, digest: str) -> Any:
        """The function's create, patch or replace; returns its URL (a reference when this deploy makes it)."""
        cf, current = fp.cf, fp.current
        resource, key = f"function {cf.function_id}", f"function:{cf.function_id}"
        run.observe(resource, observed_function(current))
        want = desired_function(cf, self.settings, self.clients.project_id, self.clients.location, digest)
        if fp.action == "noop":
            run.noop(resource)
            return _uri(current or {})
        args: dict[str, Any] = {"function": want, "function_id": cf.function_id}
        if current is None or fp.replace:
            run.write("create" if current is None else "update", resource,
                      "functions.replace" if fp.replace else "functions.create", args, fp.detail, out=key)
            return ref(key, "service_config", "uri")
        mask = (["build_config.source"] if fp.upload else []) + [m for m in fp.mask if m != "build_config.source"]
        if fp.upload and "labels" not in mask:
            mask.append("labels")
        run.write("update", resource, "functions.update", {**args, "mask": mask, "upload": fp.upload},
                  fp.detail or ", ".join(mask), out=key, fields=field_changes(want, current, mask, cf.function_id))
        return ref(key, "service_config", "uri")

    def _plan_invokers(self, run: Run, fp: FunctionPlan) -> None:
        """Cloud Run IAM: allUsers may invoke public functions; the invoker identity private ones."""
        cf, resource = fp.cf, f"iam invokers {fp.cf.function_id}"
        service = (fp.current or {}).get("service_config", {}).get("service")
        if fp.current is None or fp.replace or not service:
            want = wanted_invokers(set(), cf, self.settings)
            if want:
                run.write("create", resource, "run.set_invokers",
                          {"service": ref(f"function:{cf.function_id}", "service_config", "service"),
                           "members": sorted(want)})
            return
        policy = self.clients.rest("GET", "run", f"v2/{service}:getIamPolicy")
        members = invoker_members(policy)
        run.observe(resource, fingerprint(sorted(members)))
        want = wanted_invokers(members, cf, self.settings)
        if want == members:
            run.noop(resource)
            return
        required = wanted_invokers(set(), cf, self.settings)
        managed = members & (required | {"allUsers"})  # the members multicloud sets (others are kept)
        plain, drifted = drift.split(fp.record, drift.FUNCTION, ["invokers"], {"invokers": sorted(managed)},
                                     {"invokers": sorted(required)})
        detail = drift.detail([INVOKER_ROLE] * bool(plain), [f"{INVOKER_ROLE} members"] * bool(drifted))
        run.write("update", resource, "run.set_invokers", {"service": service, "members": sorted(want)}, detail,
                  fields=[FieldChange("members", sorted(members), sorted(want))])

    def _plan_job(self, run: Run, jp: JobPlan) -> None:
        resource = f"scheduler job {jp.job_id}"
        if jp.action == "create":
            run.write("create", resource, "scheduler.create", {"job": jp.want}, jp.detail)
        elif jp.action == "update":
            fields = [FieldChange(m, _plain(jp.current, m), _plain(jp.want, m)) for m in jp.mask]
            fields += [FieldChange("state", "PAUSED", "ENABLED")] * jp.resume
            run.write("update", resource, "scheduler.update", {"job": jp.want, "mask": jp.mask, "resume": jp.resume},
                      jp.detail, fields=fields)
        else:
            run.noop(resource)

    def _plan_stale(self, run: Run) -> None:
        """What this service deployed that the spec no longer names: jobs, functions, dead letters."""
        wanted = {cf.function_id for cf in self.functions}
        wanted_jobs = {s.job_id for cf in self.functions for s in cf.schedules}
        for job in self.owned_jobs():
            jid = job["name"].rsplit("/", 1)[1]
            if jid not in wanted_jobs:
                run.observe(f"scheduler job {jid}", observed_job(job))
                run.write("delete", f"scheduler job {jid}", "scheduler.delete", {"name": job["name"]},
                          "not in the spec")
        owned = self.owned_functions()
        for fn in owned:
            fid = fn["name"].rsplit("/", 1)[1]
            if fid not in wanted:
                run.observe(f"function {fid}", observed_function(fn))
                run.write("delete", f"function {fid}", "functions.delete", {"name": fn["name"]}, "not in the spec")
        if self._uses_pubsub(owned):
            subs, topics = self.pubsub.owned()
            keep = {f"{p.rsplit('/', 1)[1]}-dlq" for p in self.queue_topics()}
            for kind, paths, op, arg in (("subscription", subs, "pubsub.delete_subscription", "subscription"),
                                         ("topic", topics, "pubsub.delete_topic", "topic")):
                for path in paths:
                    if path.rsplit("/", 1)[1] not in keep:
                        run.write("delete", f"pubsub {kind} {path.rsplit('/', 1)[1]}", op, {arg: path},
                                  "not in the spec")

    def job_plans(self, run: Run, fp: FunctionPlan, url: Any) -> list[JobPlan]:
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
            run.observe(f"scheduler job {sched.job_id}", observed_job(current))
            uri = url or (current or {}).get("http_target", {}).get("uri", "")
            want = desired_job(cf, sched, self.settings, self.clients.location, self.project.name, uri)
            if current is None:
                detail = drift.label(fp.record, drift.FUNCTION, job_item(sched.job_id), False, "the job",
                                     want["schedule"])
                out.append(JobPlan("create", want, [], detail))
                continue
            if not owns_job(current, self.project.name):
                raise OperationError(
                    f"Cloud Scheduler job {sched.job_id} exists but is not managed by multicloud",
                    fix="delete or rename that job", where=want["name"])
            mask = changed_fields(want, current, JOB_MASK_FIELDS)
            (base, record), (wanted_base, _made) = (drift.job_record(str(d.get("description", "")))
                                                    for d in (current, want))
            changed, carried = _carried(mask, "description", base == wanted_base)
            plain, drifted = drift.split(record, drift.JOB, changed, job_record_values(current),
                                         job_record_values(want))
            paused = current.get("state") == "PAUSED"  # multicloud never pauses a job
            drifted += ["state (paused)"] * paused
            out.append(JobPlan("update" if mask or paused else "noop", want, mask,
                               drift.detail(plain + carried, drifted), paused, current))
        return out
