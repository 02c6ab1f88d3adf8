"""What this service has deployed on gcp, read back from the platform: its functions (ownership labels
checked: a resource with the right name but not ours fails before any write), its Scheduler jobs, its
Pub/Sub dead letters, and the record the state cache keeps of a function that is gone. Reads only."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from multicloud.errors import OperationError
from multicloud.project import Project
from multicloud.state import read_state

from .clients import GcpClients, to_dict
from .model import CloudFunction, cloud_functions, settings_of
from .pubsub import PubSub
from .resources import MANAGED_BY, function_name, owns_job


class Deployed:
    """This service's resources on Cloud Functions, Cloud Scheduler and Pub/Sub, read back with their
    ownership checked: what plan compares with the spec and what ops act on."""

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
