"""S3 ObjectCreated handler: copies each new object into the extra bucket (S3_EXTRA_BUCKET_NAME)."""

import os
import urllib.parse

import boto3


def handler(event, context):
    s3 = boto3.client("s3")
    target = os.environ.get("S3_EXTRA_BUCKET_NAME", "s3-local-extra")
    copied = []
    for record in event.get("Records", []):
        bucket = record["s3"]["bucket"]["name"]
        key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
        s3.copy_object(Bucket=target, Key=key, CopySource={"Bucket": bucket, "Key": key})
        copied.append(f"{bucket}/{key}")
    return {"copied": copied}
