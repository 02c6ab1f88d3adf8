"""S3-format bucket notifications -> storage events: MinIO's exact body (NATS and webhook), Ceph RGW's."""

from __future__ import annotations

import json

import pytest
from s3_notifications import minio_notification  # tests/fixtures, on sys.path through conftest.py

from multicloud.runtime.s3_records import NotARecord, is_notification, matches, to_events

RGW = {"Records": [{
    "eventVersion": "2.2", "eventSource": "ceph:s3", "awsRegion": "us-east-1",
    "eventTime": "2019-11-22T13:47:35.124724Z",
    "eventName": "ObjectCreated:Put", "userIdentity": {"principalId": "tester"},
    "requestParameters": {"sourceIPAddress": ""}, "responseElements": {"x-amz-request-id": "503a4c37"},
    "s3": {"s3SchemaVersion": "1.0", "configurationId": "mynotif1",
           "bucket": {"name": "mybucket1", "ownerIdentity": {"principalId": "tester"},
                      "arn": "arn:aws:s3:us-east-1::mybucket1", "id": "503a4c37.5332.38"},
           "object": {"key": "myimage1.jpg", "size": "1024", "eTag": "37b51d194a7513e45b56f6524f2d51f2",
                      "versionId": "", "sequencer": "F7E6D75DC742D108", "metadata": [], "tags": []}},
    "eventId": "1575221657.102001.80dad3aad8584778352c68ea8b5d8c4b", "opaqueData": "me@example.com"}]}


def test_minio_record_is_one_storage_event_with_the_key_decoded() -> None:
    doc = json.loads(minio_notification("photos", "in/summer (2024)+x.jpg", size=2048))
    assert doc["Records"][0]["s3"]["object"]["key"] == "in%2Fsummer+%282024%29%2Bx.jpg"  # Go's QueryEscape
    (event,) = to_events(doc, source_prefix="/local/shop/buckets")
    obj = event.storage
    assert (obj.bucket, obj.key, obj.kind, obj.size, obj.content_type) == (
        "photos", "in/summer (2024)+x.jpg", "created", 2048, "image/jpeg")
    assert event.kind == "storage" and event.type == "io.multicloud.storage.object.created"
    assert event.source == "/local/shop/buckets:photos" and event.subject == obj.key and event.time
    assert matches(event, ["created"], "in/", ".jpg") and not matches(event, ["deleted"], "", "")
    assert not matches(event, ["created"], "out/", "") and not matches(event, ["created"], "", ".png")


def test_minio_delete_has_no_size_and_accessed_events_are_skipped() -> None:
    (deleted,) = to_events(json.loads(minio_notification("b", "k.txt", "s3:ObjectRemoved:Delete")))
    assert deleted.storage.kind == "deleted" and deleted.storage.size is None
    assert to_events(json.loads(minio_notification("b", "k.txt", "s3:ObjectAccessed:Get"))) == []


def test_ceph_rgw_records_too() -> None:
    assert is_notification(RGW)
    (event,) = to_events(RGW)
    assert (event.storage.bucket, event.storage.key, event.storage.size) == ("mybucket1", "myimage1.jpg", 1024)


@pytest.mark.parametrize("doc", [{}, {"Records": "x"}, [], "text"])
def test_what_is_not_a_notification(doc: object) -> None:
    assert not is_notification(doc)
    with pytest.raises(NotARecord):
        to_events(doc)


def test_a_record_without_bucket_or_key_is_refused() -> None:
    with pytest.raises(NotARecord, match="record 0"):
        to_events({"Records": [{"eventName": "s3:ObjectCreated:Put", "s3": {}}]})
