"""The azure deploy lock (providers/azure/lock.py): a lease on a container in the app's storage account,
against the FAKE ARM (fake_azure.py, leases in fake_lease.py).

The in-process tests pin the protocol: the first lock creates the group and account the deploy uses, a
contender is refused with the holder's name, a stale record is never taken for the holder, a break is
conditional on the lease itself, and operations other than deploy create nothing. The slow test runs the
shared scenarios of tests/e2e/locks (two real processes: hold_lock.py and the CLI) with a second checkout
of the same service standing in for another machine; the subprocesses sign in through
DefaultAzureCredential, which finds the fake's App Service managed-identity endpoint in their environment.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_azure import IDENTITY_PATH, SUBSCRIPTION, FakeAzure, StaticToken, identity_env

from multicloud.locking import new_owner
from multicloud.project import Project
from multicloud.provider import LockInfo
from multicloud.providers.azure import AzureProvider
from multicloud.providers.azure.lock import META_LOCK, UNRECORDED, lease_id

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "locks"))
from lock_support import Case, cli, contend, expire  # noqa: E402

RG = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/orders-rg"


def provider(spec: Path) -> AzureProvider:
    return AzureProvider(Project.load(spec), credential=StaticToken())


def container_id(prov: AzureProvider) -> str:
    s = prov.session()
    return f"{RG}/providers/Microsoft.Storage/storageAccounts/{s.storage_account}/blobServices/default/containers/" \
           f"{s.lock_container}"


def recorded(fake: FakeAzure, prov: AzureProvider) -> LockInfo:
    doc = fake.get(container_id(prov))
    assert doc is not None
    return LockInfo.from_json(doc["properties"]["metadata"][META_LOCK])


def test_first_lock_creates_the_deployments_group_and_account(fake: FakeAzure, service: Path) -> None:
    prov = provider(service)
    a = new_owner("deploy", 60)
    assert prov.acquire_lock(a) is None
    s = prov.session()
    group, account = fake.get(RG), fake.get(f"{RG}/providers/Microsoft.Storage/storageAccounts/{s.storage_account}")
    assert group is not None and account is not None
    assert group["tags"] == account["tags"] == s.tags()  # the deploy's own tags: remove will own them
    assert account["properties"]["minimumTlsVersion"] == "TLS1_2" and account["sku"] == {"name": "Standard_LRS"}
    assert fake.lease_state(container_id(prov)) == "Leased" and recorded(fake, prov) == a
    doc = fake.get(container_id(prov))
    assert doc is not None and doc["properties"]["metadata"]["multicloud_service"] == "orders"

    # deploy under the lock finds group and account in place; a first deploy still plans them as creates
    # (an idempotent PUT of what they are), so a plan saved before the lock made them is the one applied
    build = prov.build(service.parent / ".multicloud" / "build" / "azure")
    actions = {c.resource.split(" ")[0]: c.action for c in prov.plan(build).changes}
    assert actions["resource"] == actions["storage"] == actions["function"] == "create"
    prov.deploy(build)
    prov.release_lock(a)
    assert fake.lease_state(container_id(prov)) == "Available"


def test_contender_is_refused_and_breaks_only_the_lock_it_saw(fake: FakeAzure, service: Path) -> None:
    prov, other = provider(service), provider(service)
    a, b = new_owner("deploy", 60), new_owner("deploy", 60)
    assert prov.acquire_lock(a) is None
    assert other.acquire_lock(b) == a
    assert not other.renew_lock(b) and recorded(fake, prov) == a  # not b's to renew
    other.release_lock(b)  # not b's to release
    assert fake.lease_state(container_id(prov)) == "Leased"

    renewed = a.renewed(60)
    assert prov.renew_lock(renewed) and recorded(fake, prov) == renewed
    assert other.break_lock(expected=a) is None  # a renewed since: not the lock b saw
    assert fake.lease_state(container_id(prov)) == "Leased"
    assert other.break_lock(expected=renewed) == renewed
    assert fake.lease_state(container_id(prov)) == "Available"
    assert not prov.renew_lock(renewed.renewed(60))  # the heartbeat learns it lost the lock
    assert other.acquire_lock(b) is None and prov.acquire_lock(a) == b


def test_a_stale_record_is_never_taken_for_the_holder(fake: FakeAzure, service: Path) -> None:
    """The lease is taken by a run that has not recorded itself yet (or died before it could): the
    metadata left by the previous holder is not reported, the lock reads as unknown, `unlock` breaks it."""
    prov = provider(service)
    a = new_owner("deploy", 60)
    assert prov.acquire_lock(a) is None
    prov.release_lock(a)
    s = prov.session()
    s.storage.blob_containers.lease(s.resource_group, s.storage_account, s.lock_container,
                                    {"action": "Acquire", "leaseDuration": -1,
                                     "proposedLeaseId": lease_id("elsewhere:1:00000000")})
    holder = provider(service).acquire_lock(new_owner("deploy", 60))
    assert holder is not None and holder.owner == f"unknown ({UNRECORDED})"
    assert holder.expires is None  # never expires by itself: a person decides
    assert provider(service).break_lock(expected=a) is None
    assert provider(service).break_lock() == holder
    assert fake.lease_state(container_id(prov)) == "Broken"
    assert provider(service).acquire_lock(a) is None  # a broken lease can be acquired at once


def test_only_deploy_creates_the_lock_store(fake: FakeAzure, service: Path) -> None:
    """remove/rollback/move of something never deployed create no account to lock in; a lock whose account
    is gone (after `remove`) renews and releases as a no-op."""
    prov = provider(service)
    info = new_owner("rollback", 60)
    assert prov.acquire_lock(info) is None
    assert fake.resources == {}
    assert prov.renew_lock(info) and prov.break_lock() is None
    prov.release_lock(info)

    d = new_owner("deploy", 60)
    assert prov.acquire_lock(d) is None
    s = prov.session()
    s.storage.storage_accounts.delete(s.resource_group, s.storage_account)
    assert prov.renew_lock(d.renewed(60))
    prov.release_lock(d)
    assert fake.lease_state(container_id(prov)) is None


@pytest.fixture
def azure_case(fake: FakeAzure, service: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Case]:
    for name, value in identity_env(fake).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "ManagedIdentityCredential")  # nothing else of the chain
    lock = container_id(provider(service))

    def make(folder: Path) -> Path:  # a fresh checkout of the same service
        shutil.copytree(service.parent, folder, ignore=shutil.ignore_patterns(".multicloud", "__pycache__"))
        return folder

    yield Case("azure", make, True, lambda: fake.lease_state(lock) == "Leased")


@pytest.mark.slow
def test_azure_lock_contention(azure_case: Case, fake: FakeAzure, tmp_path: Path) -> None:
    contend(azure_case, tmp_path)
    expire(azure_case, tmp_path)
    # `remove` runs under the lock and deletes the account the lock lives in: its release is a no-op, and
    # nothing is left, neither the lock nor the group
    removed = cli("remove", str(tmp_path / "runner-1"), "-t", "azure", "--yes")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    [outcome] = json.loads(removed.stdout)["targets"]
    assert "resource group orders-rg" in outcome["removed"], removed.stdout
    assert not azure_case.lock_exists() and fake.get(RG) is None and fake.resources == {}
    assert fake.calls("GET", IDENTITY_PATH) > 0  # the processes signed in as a managed identity would
