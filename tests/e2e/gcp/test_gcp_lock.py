"""The gcp target's deploy lock: a Cloud Storage object in the FAKE Google Cloud (fake_gcp.py, not Google).

The slow test runs the scenarios every target's lock must pass (tests/e2e/locks/lock_support.py) with
real processes: hold_lock.py and the CLI reach the fake through the inherited CLOUDSDK_API_ENDPOINT_OVERRIDES_*
variables, and a second checkout of the service (another "machine") is locked out. The others drive the
provider's lock API in process: the bucket made on first use, generation preconditions (a break or a
release that lost a race to a renewal changes nothing), and the errors for a missing or foreign bucket.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fake_gcp import NO_BUCKET, FakeGoogleCloud, StorageError
from gcp_e2e_kit import SERVICE, Deployment
from lock_support import Case, contend, expire

from multicloud.errors import OperationError
from multicloud.locking import new_owner
from multicloud.provider import LockInfo

BUCKET = "shop-test-1-multicloud"
OBJECT = "locks/shop-test-1/shop-europe-west1.json"
UPLOAD = rf"POST /upload/storage/v1/b/{BUCKET}/o"


def stored(fake: FakeGoogleCloud, bucket: str = BUCKET) -> tuple[dict[str, str], LockInfo] | None:
    entry = fake.objects.get((bucket, OBJECT))
    return None if entry is None else (entry[0], LockInfo.from_json(entry[1].decode()))


def checkout(folder: Path) -> Path:
    """A fresh checkout of the same service in another folder (another runner: no file in common)."""
    shutil.copytree(SERVICE, folder)
    return folder


@pytest.mark.slow
def test_gcp_lock_contention(fake: FakeGoogleCloud, tmp_path: Path) -> None:
    case = Case("gcp", checkout, True, lambda: stored(fake) is not None)
    contend(case, tmp_path)
    expire(case, tmp_path)
    assert list(fake.buckets) == [BUCKET] and not fake.objects  # every run released (or had broken) its lock
    assert len(fake.functions) == 6  # the deploys that held the lock did deploy


def test_first_lock_makes_the_default_bucket_private_labelled_and_regional(fake: FakeGoogleCloud,
                                                                           shop: Deployment) -> None:
    provider = shop.provider
    info = new_owner("deploy", 60)
    assert provider.acquire_lock(info) is None
    bucket = fake.buckets[BUCKET]
    assert bucket["location"] == "EUROPE-WEST1"
    assert bucket["labels"] == {"managed-by": "multicloud", "multicloud-role": "deploy-locks"}
    assert bucket["iamConfiguration"]["uniformBucketLevelAccess"]["enabled"] is True
    assert bucket["iamConfiguration"]["publicAccessPrevention"] == "enforced"
    assert bucket["softDeletePolicy"]["retentionDurationSeconds"] == "0"
    created = [(m, p, q) for m, p, q in fake.requests if m == "POST" and p == "/storage/v1/b"]
    assert len(created) == 1 and created[0][2]["project"] == ["shop-test-1"]
    meta, holder = stored(fake) or ({}, None)
    assert holder == info and meta["contentType"] == "application/json"
    uploads = [q for m, p, q in fake.requests if m == "POST" and p.startswith("/upload/")]
    assert all(q["ifGenerationMatch"] == ["0"] and q["uploadType"] == ["media"] for q in uploads)

    # another provider (another run) is refused with the holder; the bucket is not made twice
    assert shop.provider.acquire_lock(new_owner("deploy", 60)) == info
    assert len([1 for m, p, _q in fake.requests if m == "POST" and p == "/storage/v1/b"]) == 1

    # renew writes a new generation, conditional on the one read; release deletes it
    renewed = info.renewed(120)
    assert provider.renew_lock(renewed)
    meta2, holder2 = stored(fake) or ({}, None)
    assert holder2 == renewed and int(meta2["generation"]) > int(meta["generation"])
    assert not shop.provider.renew_lock(new_owner("deploy", 60))  # not the owner: nothing written
    assert stored(fake) == (meta2, renewed)
    provider.release_lock(renewed)
    assert stored(fake) is None
    assert shop.provider.acquire_lock(new_owner("deploy", 60)) is None  # free again


def test_a_break_that_lost_the_race_to_a_renewal_deletes_nothing(fake: FakeGoogleCloud, shop: Deployment) -> None:
    holder = shop.provider
    info = new_owner("deploy", 60)
    assert holder.acquire_lock(info) is None
    breaker = shop.provider
    # the breaker read the lock, then the holder renewed before the breaker's delete reached Google
    read = breaker._lock_object._read()
    assert read is not None and read.holder == info
    assert holder.renew_lock(info.renewed(60))
    assert breaker._lock_object._delete(read.generation) is False  # 412: another generation now
    assert breaker.break_lock(expected=info) is None  # the same through the API: content changed
    assert stored(fake) is not None
    # an unconditional `multicloud unlock` breaks whatever is there and says whose lock it was
    current = stored(fake)
    assert current is not None and breaker.break_lock() == current[1]
    assert stored(fake) is None and breaker.break_lock() is None


def test_a_release_after_the_lock_was_broken_and_retaken_leaves_the_new_holder(fake: FakeGoogleCloud,
                                                                               shop: Deployment) -> None:
    first, second = new_owner("deploy", 60), new_owner("remove", 60)
    assert shop.provider.acquire_lock(first) is None
    assert shop.provider.break_lock(expected=first) == first
    assert shop.provider.acquire_lock(second) is None
    shop.provider.release_lock(first)
    assert not shop.provider.renew_lock(first.renewed(60))
    assert (stored(fake) or ({}, None))[1] == second


def test_an_unreadable_lock_object_is_held_by_an_unknown_owner_until_unlocked(fake: FakeGoogleCloud,
                                                                               shop: Deployment) -> None:
    fake.buckets[BUCKET] = {"name": BUCKET}
    fake.objects[(BUCKET, OBJECT)] = ({"generation": "7", "metageneration": "1", "contentType": "text/plain"},
                                      b"not json")
    holder = shop.provider.acquire_lock(new_owner("deploy", 60))
    assert holder is not None and holder.owner.startswith("unknown") and holder.expires is None
    assert shop.provider.break_lock() == holder and stored(fake) is None


def test_a_named_state_bucket_must_exist_and_is_never_created(fake: FakeGoogleCloud, shop: Deployment) -> None:
    shop.edit("    region: europe-west1\n", "    region: europe-west1\n    state_bucket: ci-locks\n")
    with pytest.raises(OperationError) as info:
        shop.provider.acquire_lock(new_owner("deploy", 60))
    assert "gs://ci-locks" in info.value.what
    assert "gcloud storage buckets create gs://ci-locks" in (info.value.fix or "")
    assert not fake.buckets
    fake.buckets["ci-locks"] = {"name": "ci-locks"}  # made by its owner
    assert shop.provider.acquire_lock(new_owner("deploy", 60)) is None
    assert ("ci-locks", OBJECT) in fake.objects


def test_a_default_bucket_name_taken_by_another_project_says_to_set_state_bucket(fake: FakeGoogleCloud,
                                                                                 shop: Deployment) -> None:
    fake.foreign_buckets.add(BUCKET)
    with pytest.raises(OperationError) as used:  # it exists: our upload is refused (403)
        shop.provider.acquire_lock(new_owner("deploy", 60))
    assert "state_bucket" in (used.value.fix or "") and "storage.objects.create" in (used.value.fix or "")
    # it was taken between our upload (404) and our create (409), and we cannot read it (403)
    fake.fail_next.append((UPLOAD, StorageError(404, "notFound", NO_BUCKET)))
    with pytest.raises(OperationError) as created:
        shop.provider.acquire_lock(new_owner("deploy", 60))
    assert f"gs://{BUCKET}" in created.value.what and "state_bucket" in (created.value.fix or "")
    assert not fake.objects


def test_a_bucket_another_run_created_first_is_used(fake: FakeGoogleCloud, shop: Deployment) -> None:
    fake.buckets[BUCKET] = {"name": BUCKET, "labels": {"managed-by": "multicloud"}}
    fake.fail_next.append((UPLOAD, StorageError(404, "notFound", NO_BUCKET)))  # it did not exist a moment ago
    assert shop.provider.acquire_lock(new_owner("deploy", 60)) is None
    assert stored(fake) is not None


def test_storage_errors_are_clear(fake: FakeGoogleCloud, shop: Deployment) -> None:
    fake.buckets[BUCKET] = {"name": BUCKET}
    fake.fail_next.append((UPLOAD, StorageError(403, "forbidden", "deployer@x does not have "
                                                                  "storage.objects.create access")))
    with pytest.raises(OperationError) as info:
        shop.provider.acquire_lock(new_owner("deploy", 60))
    assert "storage.objects.create access" in info.value.what
    assert "roles/storage.objectUser" in (info.value.fix or "") and info.value.where == f"gs://{BUCKET}/{OBJECT}"
    fake.fail_next.append((UPLOAD, StorageError(503, "backendError", "Backend Error")))
    with pytest.raises(OperationError) as unavailable:
        shop.provider.acquire_lock(new_owner("deploy", 60))
    assert "retry" in (unavailable.value.fix or "")


def test_the_fake_answers_like_cloud_storage(fake: FakeGoogleCloud, shop: Deployment) -> None:
    """The status codes and envelope the lock relies on, straight from the fake (its fidelity, not ours)."""
    from multicloud.providers.gcp.clients import GcpClients

    clients = GcpClients.from_environment(shop.provider.project)
    path = f"storage/v1/b/{BUCKET}/o/locks%2Fx.json"
    upload = ("POST", "storage", f"upload/storage/v1/b/{BUCKET}/o")
    create = {"uploadType": "media", "name": "locks/x.json", "ifGenerationMatch": "0"}
    missing = clients.call("GET", "storage", path, allow=(404,))
    assert missing.status_code == 404 and missing.json()["error"]["message"] == NO_BUCKET
    assert "status" not in missing.json()["error"] and missing.json()["error"]["errors"][0]["reason"] == "notFound"
    fake.buckets[BUCKET] = {"name": BUCKET}
    first = clients.call(*upload, params=create, data=b"{}", content_type="application/json").json()
    assert isinstance(first["generation"], str) and first["size"] == "2"
    again = clients.call(*upload, params=create, data=b"{}", content_type="application/json", allow=(412,))
    assert again.status_code == 412 and again.json()["error"]["errors"][0]["reason"] == "conditionNotMet"
    media = clients.call("GET", "storage", path, params={"alt": "media", "ifGenerationMatch": first["generation"]})
    assert media.content == b"{}" and media.headers["X-Goog-Generation"] == first["generation"]
    assert clients.call("DELETE", "storage", path, params={"ifGenerationMatch": "1"}, allow=(412,)).status_code == 412
    gone = clients.call("DELETE", "storage", path, params={"ifGenerationMatch": first["generation"]})
    assert gone.status_code == 204 and not gone.content
    assert clients.call("DELETE", "storage", path, params={"ifGenerationMatch": first["generation"]},
                        allow=(404,)).status_code == 404  # not found wins over the precondition
    assert json.loads(clients.call("GET", "storage", f"storage/v1/b/{BUCKET}").content)["name"] == BUCKET
