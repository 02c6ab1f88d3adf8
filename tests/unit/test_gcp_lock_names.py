"""The pure parts of the gcp deploy lock: where it lives (bucket, object, endpoint) and how its content
is read. The lock's behaviour against Cloud Storage is in tests/e2e/gcp/test_gcp_lock.py."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from multicloud.locking import new_owner
from multicloud.providers.gcp.clients import endpoint
from multicloud.providers.gcp.lock import default_bucket, object_name, parse_holder
from multicloud.providers.gcp.settings import GcpSettings


@pytest.mark.parametrize("project, bucket", [
    ("shop-test-1", "shop-test-1-multicloud"),
    ("example.com:shop-prod", "example-com-shop-prod-multicloud"),  # domain-scoped: no dots, no colon
])
def test_default_bucket_is_derived_from_the_project(project: str, bucket: str) -> None:
    assert default_bucket(project) == bucket
    GcpSettings(state_bucket=bucket)  # a name the setting itself would accept


def test_one_object_per_project_service_and_region() -> None:
    assert object_name("p-1", "shop", "europe-west1") == "locks/p-1/shop-europe-west1.json"
    assert object_name("p-1", "shop", "us-central1") != object_name("p-2", "shop", "us-central1")


@pytest.mark.parametrize("value, expected", [
    ("", "https://storage.googleapis.com"),
    ("https://storage.googleapis.com/storage/v1/", "https://storage.googleapis.com"),  # gcloud's format
    ("https://storage-vialink1.p.googleapis.com/", "https://storage-vialink1.p.googleapis.com"),
    ("http://127.0.0.1:9023", "http://127.0.0.1:9023"),
])
def test_storage_endpoint_comes_from_gclouds_override(monkeypatch: pytest.MonkeyPatch, value: str,
                                                     expected: str) -> None:
    monkeypatch.setenv("CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE", value)
    assert endpoint("storage") == expected


@pytest.mark.parametrize("text", ["", "not json", "[]", '"a string"', '{"owner": "h:1:ab"}',
                                  '{"owner": "h:1:ab", "operation": "deploy", "since": "yesterday"}'])
def test_an_unreadable_lock_has_an_unknown_holder_that_never_expires(text: str) -> None:
    holder = parse_holder(text)
    assert holder.owner.startswith("unknown (") and holder.expires is None and not holder.expired()


def test_a_readable_lock_round_trips() -> None:
    info = new_owner("deploy", 30)
    assert parse_holder(info.to_json()) == info


@pytest.mark.parametrize("name", ["Upper-case", "a", "dotted.name.example", "-dash-first", "x" * 64])
def test_state_bucket_must_be_a_plain_bucket_name(name: str) -> None:
    with pytest.raises(ValidationError):
        GcpSettings(state_bucket=name)
