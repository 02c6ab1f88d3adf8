"""The Cloud Functions and Cloud Scheduler resources we want, as plain dicts, and how they differ.

Pure data in the APIs' own field names (snake_case proto names, enum names as strings), so the diff that
decides an update mask can be tested without a network or an SDK. A field we do not set is a field we do
not manage: the platform's defaults there are never "changes".
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from . import drift
from .model import INGRESS, PUBSUB_EVENT_TYPE, SCHEDULE_HEADER, SCHEDULE_MARKER, CloudFunction, ScheduleSpec, topic_path
from .settings import GcpSettings

SOURCE_LABEL = "multicloud-source"
MANAGED_BY = ("managed-by", "multicloud")
# Fields an update may touch, in mask order. Source is decided by the source label, not by comparison.
MASK_FIELDS = (
    "description", "labels", "build_config.runtime", "build_config.entry_point",
    "service_config.available_memory", "service_config.available_cpu", "service_config.timeout_seconds",
    "service_config.environment_variables", "service_config.secret_environment_variables",
    "service_config.ingress_settings", "service_config.max_instance_count", "service_config.min_instance_count",
    "service_config.max_instance_request_concurrency", "service_config.service_account_email",
    "event_trigger",
)
# memory (MiB) up to -> the least CPU gen2 accepts with it (cloud.google.com/functions/docs/configuring/memory)
MIN_CPU_FOR_MEMORY = ((4096, "1"), (8192, "2"), (16384, "4"), (32768, "8"))
JOB_MASK_FIELDS = ("description", "schedule", "time_zone", "http_target", "attempt_deadline")
# Sub-messages the platform fills in beyond what we set: a record compares only the keys we manage
MANAGED_KEYS = {"event_trigger": ("event_type", "retry_policy", "event_filters", "pubsub_topic", "trigger_region",
                                  "service_account_email"),
                "http_target": ("uri", "http_method", "headers", "body", "oidc_token"),
                "http_target.oidc_token": ("service_account_email", "audience")}
INVOKER_ROLE = "roles/run.invoker"
# Cloud Scheduler waits at most this long for an HTTP target (15 s to 30 min); we wait as long as the function
SCHEDULER_DEADLINE_S = (15, 1800)
_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)\s*(k|M|G|Mi|Gi|Ki)?$")
_UNITS = {None: 1, "k": 1000, "M": 1000**2, "G": 1000**3, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}


def source_label(sha256: str) -> str:
    return sha256[:32]


def function_name(location: str, cf: CloudFunction) -> str:
    return f"{location}/functions/{cf.function_id}"


def desired_function(cf: CloudFunction, settings: GcpSettings, project_id: str, location: str,
                     source_sha: str) -> dict[str, Any]:
    service: dict[str, Any] = {
        "available_memory": f"{cf.memory_mb}Mi",
        "timeout_seconds": cf.timeout_s,
        # the shim reads the last two for Context.memory_limit_mb and remaining_time_ms (an `async def`
        # handler is cancelled at that deadline): Cloud Functions passes neither to a request
        "environment_variables": {**cf.env, "MULTICLOUD_MEMORY_MB": str(cf.memory_mb),
                                  "MULTICLOUD_TIMEOUT_MS": str(cf.timeout_s * 1000)},
        "secret_environment_variables": [
            {"key": s.env, "project_id": s.project or project_id, "secret": s.secret, "version": s.version}
            for s in cf.secrets
        ],
        "ingress_settings": INGRESS[settings.ingress],
        "min_instance_count": settings.min_instances,
        "max_instance_request_concurrency": settings.concurrency,
        "all_traffic_on_latest_revision": True,
    }
    if settings.concurrency > 1 or cf.memory_mb > 2048:
        # gen2 needs a whole CPU for concurrency, and more CPUs for the larger memory tiers
        service["available_cpu"] = next(cpu for limit, cpu in MIN_CPU_FOR_MEMORY if cf.memory_mb <= limit)
    if settings.max_instances is not None:
        service["max_instance_count"] = settings.max_instances
    if settings.service_account:
        service["service_account_email"] = settings.service_account
    fn: dict[str, Any] = {
        "name": function_name(location, cf),
        "description": cf.description,
        "environment": "GEN_2",
        "labels": {**cf.labels, SOURCE_LABEL: source_label(source_sha)},
        "build_config": {"runtime": cf.runtime, "entry_point": cf.entry_point},
        "service_config": service,
    }
    et = cf.event_trigger
    if et is not None:
        # a queue function always retries: Pub/Sub redelivers until max_attempts, then dead-letters
        retry = settings.retry_events or et.topic is not None
        trigger: dict[str, Any] = {
            "event_type": et.event_type,
            "retry_policy": "RETRY_POLICY_RETRY" if retry else "RETRY_POLICY_DO_NOT_RETRY",
        }
        if et.bucket is not None:
            trigger["event_filters"] = [{"attribute": "bucket", "value": et.bucket}]
        if et.topic is not None:
            trigger["pubsub_topic"] = topic_path(et.topic, project_id)
        if settings.trigger_region:
            trigger["trigger_region"] = settings.trigger_region
        if settings.invoker_service_account:
            trigger["service_account_email"] = settings.invoker_service_account
        fn["event_trigger"] = trigger
    fn["labels"].update(drift.recorded(drift.FUNCTION, function_record_values(fn, cf, settings)).labels_of_entries())
    return fn


def function_record_values(fn: dict[str, Any], cf: CloudFunction | None = None,
                           settings: GcpSettings | None = None) -> dict[str, object]:
    """What a function's record holds, each in its normal form (`canonical`): each managed field (labels
    without the source label, which the build decides, and without the record itself), and with the spec
    (`cf`) its invokers and each of its jobs (as present)."""
    values = {path: canonical(path, get_path(fn, path)) for path in MASK_FIELDS}
    values["labels"] = canonical("labels", record_free_labels(fn.get("labels") or {}))
    if cf is not None and settings is not None:
        values["invokers"] = sorted(wanted_invokers(set(), cf, settings))
        values.update({job_item(s.job_id): True for s in cf.schedules})
    return values


def job_item(job_id: str) -> str:
    return f"job {job_id}"


def record_free_labels(labels: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in labels.items() if k != SOURCE_LABEL and not drift.is_record_label(k)}


def canonical(path: str, value: Any) -> Any:
    """A field's value in one normal form, whether the spec wants it or the platform reports it: memory in
    bytes, empty values dropped, lists sorted, sub-messages reduced to the keys we manage."""
    if path.endswith("available_memory"):
        return memory_bytes(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        keys = MANAGED_KEYS.get(path)
        items = {k: canonical(f"{path}.{k}", v) for k, v in value.items() if keys is None or k in keys}
        return {k: v for k, v in sorted(items.items()) if not _empty(v)}
    if isinstance(value, list):
        return _normal_list(value)
    return None if _empty(value) else value


def wanted_invokers(members: set[str], cf: CloudFunction, settings: GcpSettings) -> set[str]:
    """The `roles/run.invoker` members a function needs, keeping others someone added: allUsers on a public
    function (never on a private one), the invoker identity on a private one."""
    want = set(members)
    if cf.public:
        want.add("allUsers")
    else:
        want.discard("allUsers")
        if settings.invoker_service_account:
            want.add(f"serviceAccount:{settings.invoker_service_account}")
    return want


def invoker_members(policy: dict[str, Any]) -> set[str]:
    binding = next((b for b in policy.get("bindings", []) if b.get("role") == INVOKER_ROLE), None)
    return set(binding.get("members", [])) if binding else set()


def schedule_event(location: str, schedule: ScheduleSpec) -> dict[str, Any]:
    """The structured CloudEvent a Scheduler job POSTs: a Pub/Sub-style push envelope whose message
    carries the runtime's schedule marker, the fixed payload every shim turns into a schedule event."""
    marker = json.dumps({SCHEDULE_MARKER: {"name": schedule.job_id}}, sort_keys=True).encode()
    return {
        "specversion": "1.0", "type": PUBSUB_EVENT_TYPE, "id": schedule.job_id,
        "source": f"//cloudscheduler.googleapis.com/{location}/jobs/{schedule.job_id}",
        "subject": schedule.job_id, "datacontenttype": "application/json",
        "data": {"message": {"data": base64.b64encode(marker).decode(), "messageId": schedule.job_id,
                             "attributes": {"multicloud-schedule": schedule.job_id}},
                 "subscription": ""},
    }


def desired_job(cf: CloudFunction, schedule: ScheduleSpec, settings: GcpSettings, location: str,
                project_name: str, url: str) -> dict[str, Any]:
    """A Scheduler job POSTing a structured CloudEvent to the function's URL (OIDC when private)."""
    event = schedule_event(location, schedule)
    target: dict[str, Any] = {
        "uri": url, "http_method": "POST",
        "headers": {"Content-Type": "application/cloudevents+json", SCHEDULE_HEADER: schedule.job_id},
        "body": json.dumps(event, sort_keys=True).encode(),
    }
    if not cf.public and settings.invoker_service_account:
        target["oidc_token"] = {"service_account_email": settings.invoker_service_account, "audience": url}
    job: dict[str, Any] = {
        "name": f"{location}/jobs/{schedule.job_id}",
        "description": job_description(project_name, cf.function, schedule.source),
        "schedule": schedule.cron,
        "time_zone": settings.time_zone,
        "http_target": target,
        "attempt_deadline": f"{min(max(cf.timeout_s, SCHEDULER_DEADLINE_S[0]), SCHEDULER_DEADLINE_S[1])}s",
    }
    job["description"] = drift.job_description(job["description"], drift.recorded(drift.JOB, job_record_values(job)))
    return job


def job_record_values(job: dict[str, Any]) -> dict[str, object]:
    """What a job's record holds (normal form): its managed fields, the description without the record,
    and the target without the function's URL (always the function's own, unknown before it exists)."""
    values = {path: get_path(job, path) for path in JOB_MASK_FIELDS}
    values["description"] = drift.job_record(str(job.get("description", "")))[0]
    target = dict(values["http_target"] or {})
    target["uri"] = ""
    if "oidc_token" in target:
        target["oidc_token"] = {**target["oidc_token"], "audience": ""}
    values["http_target"] = target
    return {path: canonical(path, value) for path, value in values.items()}


def job_description(project_name: str, function: str, source: str) -> str:
    return f"managed-by=multicloud service={project_name} function={function} ({source})"


def owns_job(job: dict[str, Any], project_name: str) -> bool:
    return str(job.get("description", "")).startswith(f"managed-by=multicloud service={project_name} ")


def changed_fields(desired: dict[str, Any], current: dict[str, Any], fields: tuple[str, ...]) -> list[str]:
    """Mask paths whose desired value differs from the current one (unset desired = unmanaged)."""
    out = []
    for path in fields:
        want = get_path(desired, path)
        if want is None:
            continue
        have = get_path(current, path)
        if not _same(path, want, have):
            out.append(path)
    return out


def get_path(data: dict[str, Any], path: str) -> Any:
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _empty(value: Any) -> bool:
    return value in (None, "", 0, False, [], {}) or (isinstance(value, str) and value.endswith("_UNSPECIFIED"))


def _same(path: str, want: Any, have: Any) -> bool:
    if path.endswith("available_memory"):
        return memory_bytes(want) == memory_bytes(have)
    if isinstance(want, dict):
        have = have if isinstance(have, dict) else {}
        if path in ("labels", "service_config.environment_variables", "http_target.headers"):
            return want == {k: v for k, v in have.items() if not _empty(v) or k in want}
        # a sub-message: compare only what we set (the platform fills in the rest)
        return all(_same(f"{path}.{k}", v, have.get(k)) for k, v in want.items())
    if isinstance(want, list):
        have_list = have if isinstance(have, list) else []
        return _normal_list(want) == _normal_list(have_list)
    if isinstance(want, bytes) and isinstance(have, str):
        return base64.b64encode(want).decode() == have or want == have.encode()
    if _empty(want) and _empty(have):
        return True
    return bool(want == have)


def _normal_list(items: list[Any]) -> list[str]:
    return sorted(json.dumps({k: v for k, v in i.items() if not _empty(v)} if isinstance(i, dict) else i,
                             sort_keys=True, default=str) for i in items)


def memory_bytes(value: Any) -> int | None:
    match = _MEMORY.match(str(value or ""))
    if not match:
        return None
    return int(float(match.group(1)) * _UNITS[match.group(2)])
