"""The gcp target's deploy lock, stored in Google Cloud itself: one Cloud Storage object per service.

`gs://<bucket>/locks/<project>/<service>-<region>.json` holds the LockInfo JSON of the run that holds the
lock. Cloud Storage's request preconditions on an object's generation give everything a lock needs (the
store Terraform's gcs backend uses), through the JSON API over the provider's authorized session:

* acquire: media upload with `ifGenerationMatch=0`, which only succeeds while no live object exists, and
  atomically so; 412 (conditionNotMet) means someone holds it, and the holder is read back;
* renew: read the generation and content, check the owner, upload with `ifGenerationMatch=<generation>`;
* release: read, check the owner, delete with `ifGenerationMatch=<generation>`;
* break(expected): read, compare with `expected`, delete with `ifGenerationMatch=<generation>`. A renewal
  in between changes the generation, so the break fails harmlessly: a real compare-and-swap, which the
  aws target's SSM parameter cannot give.

The project is part of the object name so one `state_bucket` can serve several projects.

Bucket policy. The default bucket, `<project>-multicloud`, is created on first use (a 404 from the
upload) in the function's region, with uniform bucket-level access, public access prevention enforced,
soft delete off (every renewal replaces the object: nothing is worth keeping) and the labels
`managed-by=multicloud, multicloud-role=deploy-locks`. It has no service label because every service of
the project shares it, and `remove` leaves it (it is empty whenever no run holds a lock). An explicitly
named `state_bucket` is never created.

Why create the default rather than require an existing bucket, as Terraform's gcs backend does? That
backend keeps state, which is precious, so the bucket's versioning, retention and encryption are a
decision for its owner. A lock object holds nothing precious (`host:pid:nonce`, two timestamps) and lives
only while a run holds it, so the bucket's settings barely matter, and requiring one would make every
new project fail its first deploy for want of a bucket nobody has a reason to configure. The name is
deterministic, so every runner of the project finds the same bucket without shared configuration. An
explicit name is different: a typo must not create a second bucket, which would quietly split the lock
between runners, so it must exist. Organisations that forbid deployers to create buckets set
`state_bucket`. Bucket names are global: if another project owns `<project>-multicloud`, creating it
answers 409 (or using it, 403), and the error says to set `state_bucket`.

IAM: the deploying identity needs storage.objects.create, storage.objects.get and storage.objects.delete
on the bucket (roles/storage.objectUser), plus storage.buckets.create and storage.buckets.get on the
project the first time the default bucket is made. The functions' runtime identities never need it.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

from multicloud.errors import OperationError
from multicloud.provider import LockInfo

from .clients import GcpClients

BUCKET_LABELS = {"managed-by": "multicloud", "multicloud-role": "deploy-locks"}
UNREADABLE = "unreadable lock object"
NOT_FOUND, CONFLICT, PRECONDITION_FAILED = 404, 409, 412
ATTEMPTS = 3  # a lock may be released (or the bucket made) between two of our requests: try again


def default_bucket(project_id: str) -> str:
    """`<project>-multicloud`. A domain-scoped project (`example.com:proj`) loses its `.` and `:`: a dotted
    bucket name would need a verified domain, and `:` is not allowed at all."""
    return re.sub(r"[.:]", "-", project_id) + "-multicloud"


def object_name(project_id: str, service: str, region: str) -> str:
    return f"locks/{project_id}/{service}-{region}.json"


def parse_holder(text: str) -> LockInfo:
    try:
        return LockInfo.from_json(text)
    except (ValueError, KeyError, TypeError, AttributeError):
        return LockInfo.unknown(UNREADABLE)


@dataclass(frozen=True)
class Held:
    """The lock object as read: who holds it, and the generation that says so (the precondition of the
    next write or delete)."""

    holder: LockInfo
    generation: str


class LockObject:
    """One service's lock object. Used by one thread at a time (acquire and release by the run, renew by
    its heartbeat in between), so it may keep one authorized session."""

    def __init__(self, clients: GcpClients, service: str, state_bucket: str | None) -> None:
        self.clients = clients
        self.bucket = state_bucket or default_bucket(clients.project_id)
        self.explicit = state_bucket is not None
        self.name = object_name(clients.project_id, service, clients.region)
        self.url = f"gs://{self.bucket}/{self.name}"

    # ---- the four lock operations ----------------------------------------------------------------
    def acquire(self, info: LockInfo) -> LockInfo | None:
        """None when this run took the lock, else the holder."""
        for _ in range(ATTEMPTS):
            status = self._upload(info, "0")
            if status == NOT_FOUND:  # an upload answers 404 only for a missing bucket
                self._create_bucket()
                continue
            if status != PRECONDITION_FAILED:
                return None
            held = self._read()
            if held is not None:
                return held.holder
        return LockInfo.unknown("lock object kept appearing and vanishing")

    def renew(self, info: LockInfo) -> bool:
        held = self._read()
        if held is None or held.holder.owner != info.owner:
            return False
        return self._upload(info, held.generation) < 400

    def release(self, info: LockInfo) -> None:
        held = self._read()
        if held is not None and held.holder.owner == info.owner:
            self._delete(held.generation)

    def break_lock(self, expected: LockInfo | None) -> LockInfo | None:
        held = self._read()
        if held is None or (expected is not None and held.holder != expected):
            return None
        return held.holder if self._delete(held.generation) else None

    # ---- Cloud Storage JSON API ------------------------------------------------------------------
    @property
    def _object_path(self) -> str:  # objects.get / objects.delete: the name is one path segment
        return f"storage/v1/b/{self.bucket}/o/{urllib.parse.quote(self.name, safe='')}"

    def _read(self) -> Held | None:
        """Metadata (for the generation), then the content of exactly that generation."""
        generation = ""
        for _ in range(ATTEMPTS):
            meta = self._call("GET", self._object_path)
            if meta.status_code == NOT_FOUND:
                return None
            generation = str(meta.json()["generation"])
            media = self._call("GET", self._object_path, params={"alt": "media", "ifGenerationMatch": generation})
            if media.status_code < 400:
                return Held(parse_holder(media.text), generation)
        return Held(LockInfo.unknown("lock object kept changing while read"), generation)

    def _upload(self, info: LockInfo, if_generation_match: str) -> int:
        response = self._call("POST", f"upload/storage/v1/b/{self.bucket}/o",
                              params={"uploadType": "media", "name": self.name,
                                      "ifGenerationMatch": if_generation_match},
                              data=info.to_json().encode(), content_type="application/json")
        return int(response.status_code)

    def _delete(self, generation: str) -> bool:
        """False when the object is gone or is another generation: not the lock that was read."""
        response = self._call("DELETE", self._object_path, params={"ifGenerationMatch": generation})
        return int(response.status_code) < 400

    def _call(self, method: str, path: str, *, params: dict[str, str] | None = None, data: bytes | None = None,
              content_type: str | None = None) -> Any:
        from google.api_core import exceptions

        try:
            return self.clients.call(method, "storage", path, params=params, data=data, content_type=content_type,
                                     allow=(NOT_FOUND, PRECONDITION_FAILED))
        except exceptions.Forbidden as exc:
            squatted = "" if self.explicit else (
                f"; if the bucket name belongs to another project (names are global), set "
                f"`targets: gcp: state_bucket` to a bucket of project {self.clients.project_id}")
            raise OperationError(
                f"Cloud Storage refused access to the deploy lock: {exc.message}",
                fix=f"grant the deploying identity storage.objects.create, storage.objects.get and "
                    f"storage.objects.delete on gs://{self.bucket} (roles/storage.objectUser){squatted}",
                where=self.url,
            ) from exc

    def _create_bucket(self) -> None:
        from google.api_core import exceptions

        if self.explicit:
            raise OperationError(
                f"the deploy lock bucket gs://{self.bucket} (`targets: gcp: state_bucket`) does not exist",
                fix=f"create it (`gcloud storage buckets create gs://{self.bucket} --location {self.clients.region} "
                    f"--uniform-bucket-level-access --public-access-prevention`), or remove `state_bucket` to use "
                    f"the default bucket, which multicloud creates",
                where=self.url,
            )
        body = {"name": self.bucket, "location": self.clients.region, "labels": BUCKET_LABELS,
                "iamConfiguration": {"uniformBucketLevelAccess": {"enabled": True},
                                     "publicAccessPrevention": "enforced"},
                "softDeletePolicy": {"retentionDurationSeconds": "0"}}
        try:
            response = self.clients.call("POST", "storage", "storage/v1/b", params={"project": self.clients.project_id},
                                         json=body, allow=(CONFLICT,))
            if response.status_code != CONFLICT:
                return
            self.clients.call("GET", "storage", f"storage/v1/b/{self.bucket}")  # another run made it: fine
        except (exceptions.Forbidden, exceptions.NotFound) as exc:
            raise OperationError(
                f"could not create or use the deploy lock bucket gs://{self.bucket}: {exc.message}",
                fix=f"set `targets: gcp: state_bucket` to an existing bucket of project {self.clients.project_id} "
                    f"(the name is global and may belong to another project), or grant the deploying identity "
                    f"storage.buckets.create and storage.buckets.get on the project",
                where=self.url,
            ) from exc
