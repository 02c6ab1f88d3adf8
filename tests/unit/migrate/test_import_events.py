"""Events -> triggers: routes keep their meaning, queues and streams keep their real names."""

from __future__ import annotations

import pytest
from migrate_helpers import notes_text

from multicloud.migrate.events import aws_cron

HEAD = """\
service: shop
provider:
  name: aws
  runtime: python3.12
functions:
"""
ALL = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def triggers(conv, fn: str = "api") -> list[dict]:
    return conv.spec["functions"][fn].get("triggers", [])


def test_rest_and_http_api_routes_keep_proxy_any_and_catch_alls(convert) -> None:
    conv = convert(HEAD + """\
  api:
    handler: handler.main
    events:
      - http: ANY /
      - http: 'ANY {proxy+}'
      - http: {path: 'items/{id}', method: get}
  v2:
    handler: handler.main
    events:
      - httpApi: '*'
  v2b:
    handler: handler.main
    events:
      - httpApi: {method: '*', path: '/files/{path+}'}
      - httpApi: GET /health
""")
    assert triggers(conv) == [{"http": {"path": "/", "methods": ALL}}, {"http": {"path": "/{proxy+}", "methods": ALL}},
                              {"http": {"path": "/items/{id}", "methods": ["GET"]}}]
    api = conv.spec["functions"]["api"]
    assert api["style"] == "aws" and api["http_payload"] == "1.0"  # REST events: payload 1.0
    # httpApi '*' duplicates api's catch-all routes: one route table per service, so they stay with api
    assert "v2" not in conv.spec["functions"] or not triggers(conv, "v2")
    assert "already served by api" in notes_text(conv)
    assert triggers(conv, "v2b") == [{"http": {"path": "/files/{path+}", "methods": ALL}},
                                     {"http": {"path": "/health", "methods": ["GET"]}}]
    assert "http_payload" not in conv.spec["functions"]["v2b"]  # 2.0 is the default
    assert conv.spec["targets"]["aws"]["http"] == "http_api"


def test_http_api_payload_1_and_function_urls(convert) -> None:
    conv = convert(HEAD.replace("  runtime:", "  httpApi: {payload: '1.0'}\n  runtime:") + """\
  api:
    handler: handler.main
    events:
      - httpApi: POST /orders
  url:
    handler: handler.main
    url: {authorizer: aws_iam, cors: true}
""")
    assert conv.spec["functions"]["api"]["http_payload"] == "1.0"
    assert triggers(conv, "url") == [{"http": {"path": "/", "methods": ALL, "auth": "key"}},
                                     {"http": {"path": "/{proxy+}", "methods": ALL, "auth": "key"}}]
    assert "functions.url.url.cors: CORS is not carried over" in notes_text(conv)


def test_http_options_are_listed_and_private_routes_need_a_key(convert) -> None:
    conv = convert(HEAD + """\
  api:
    handler: handler.main
    events:
      - http: {path: admin, method: post, private: true, cors: true, authorizer: auth, request: {schemas: {}}}
      - http: {path: legacy, method: get, integration: lambda}
      - http: {path: mock, method: get, integration: mock}
      - http: {path: 'bad path', method: get}
      - http: {path: ok, method: TRACE}
""")
    assert triggers(conv) == [{"http": {"path": "/admin", "methods": ["POST"], "auth": "key"}},
                              {"http": {"path": "/legacy", "methods": ["GET"]}}]
    text = notes_text(conv)
    for expected in ("events[0].http.cors: CORS", "events[0].http.authorizer: the authorizer",
                     "events[0].http.private: API Gateway API keys", "events[0].http.request: request parameters",
                     "events[1].http.integration: the handler was written for API Gateway's non-proxy",
                     "events[2].http.integration: a `mock` integration", "events[3].http: path 'bad path'",
                     "events[4].http: method 'TRACE'"):
        assert expected in text, expected


def test_schedules_rate_cron_and_lists(convert) -> None:
    conv = convert(HEAD + """\
  api:
    handler: handler.main
    events:
      - schedule: rate(1 minute)
      - schedule: cron(0/15 8-17 ? * MON-FRI *)
      - schedule: {rate: [rate(2 hours), 'cron(30 6 ? * 2-6 *)'], input: {x: 1}, timezone: Europe/Paris}
      - schedule: {rate: rate(5 days), enabled: false}
      - schedule: cron(0 12 L * ? *)
""")
    assert [t["schedule"] for t in triggers(conv)] == [
        {"rate": "1m"}, {"cron": "0/15 8-17 * * MON-FRI"}, {"rate": "2h"}, {"cron": "30 6 * * 1-5"}]
    text = notes_text(conv)
    assert "events[2].schedule.input: the handler received this input" in text
    assert "events[2].schedule.timezone: time zone Europe/Paris" in text
    assert "events[3].schedule.enabled: a disabled schedule" in text
    assert "events[4].schedule: schedule 'cron(0 12 L * ? *)' not converted: L, W and #" in text


@pytest.mark.parametrize(("aws", "five"), [
    ("0 10 * * ? *", "0 10 * * *"), ("15 2 ? * 1 *", "15 2 * * 0"), ("0 0 ? * 7 *", "0 0 * * 6"),
    ("0 9 ? * 2,4,6 *", "0 9 * * 1,3,5"), ("*/5 * * * ? *", "*/5 * * * *"),
])
def test_aws_cron_day_of_week_is_one_based(aws: str, five: str) -> None:
    assert aws_cron(aws) == (five, "")


def test_queues_and_streams_are_named_from_arns_and_resources(convert) -> None:
    conv = convert(HEAD + """\
  api:
    handler: handler.main
    events:
      - sqs: arn:aws:sqs:eu-west-1:123456789012:literal-queue
      - sqs: {arn: !GetAtt OrdersQueue.Arn, batchSize: 5, functionResponseType: ReportBatchItemFailures}
      - sqs: {arn: {'Fn::GetAtt': [JobsQueue, Arn]}, maximumBatchingWindow: 10}
      - sqs: {arn: !Join [':', [arn:aws:sqs, !Ref 'AWS::Region', !Ref 'AWS::AccountId', joined-queue]]}
      - sqs: {arn: !Sub 'arn:aws:sqs:${AWS::Region}:${AWS::AccountId}:subbed-${self:service}'}
      - sqs: {arn: !ImportValue other-stack-queue}
      - sqs: {arn: !GetAtt Missing.Arn}
      - stream: {type: kinesis, arn: !GetAtt Clicks.Arn, startingPosition: TRIM_HORIZON, batchSize: 50}
      - stream: arn:aws:kinesis:us-east-1:1:stream/literal-stream/consumer/c:1
      - stream: {type: dynamodb, arn: !GetAtt Orders.StreamArn}
      - stream: {arn: !GetAtt OrdersQueue.Arn}
resources:
  Resources:
    OrdersQueue: {Type: 'AWS::SQS::Queue', Properties: {QueueName: '${self:service}-orders'}}
    JobsQueue: {Type: 'AWS::SQS::Queue', Properties: {FifoQueue: true}}
    Clicks: {Type: 'AWS::Kinesis::Stream', Properties: {Name: clicks, ShardCount: 1}}
    Orders: {Type: 'AWS::DynamoDB::Table', Properties: {TableName: orders}}
    Unused: {Type: 'AWS::S3::Bucket'}
""")
    got = [next(iter(t.values())) for t in triggers(conv)]
    assert got == [
        {"name": "literal-queue"}, {"name": "shop-orders", "batch_size": 5}, {"name": "JobsQueue.fifo"},
        {"name": "joined-queue"}, {"name": "subbed-shop"},
        {"name": "clicks", "batch_size": 50, "starting_position": "trim_horizon"},
        {"name": "literal-stream", "starting_position": "latest"},
    ]
    text = notes_text(conv)
    for expected in (
            "events[2].sqs.arn: CloudFormation generated its name (no QueueName); the queue is named 'JobsQueue.fifo'",
            "events[2].sqs.maximumBatchingWindow: the batching window",
            "events[5].sqs.arn: not converted: it is an export of another CloudFormation stack",
            "events[6].sqs.arn: not converted: resource 'Missing' is not declared",
            "events[9].stream: a DynamoDB stream of table orders: no portable equivalent",
            "events[10].stream: the source is a sqs resource, not kinesis",
            "resources.Resources.Unused: AWS::S3::Bucket is not created by multicloud"):
        assert expected in text, expected
    assert "resources.Resources.OrdersQueue" not in text  # used by a trigger: reported there


def test_cloudformation_values_in_environment_are_listed_never_literal(convert) -> None:
    conv = convert(HEAD + """\
  api:
    handler: handler.main
    environment:
      QUEUE_URL: !Ref OrdersQueue
      TABLE: {'Fn::GetAtt': [Orders, Arn]}
      JOINED: !Join ['', [a, !Ref 'AWS::Region']]
      PLAIN: 'yes'
resources:
  Resources:
    OrdersQueue: {Type: 'AWS::SQS::Queue', Properties: {QueueName: orders}}
    Orders: {Type: 'AWS::DynamoDB::Table', Properties: {TableName: orders-table}}
""")
    assert conv.spec["functions"]["api"]["env"] == {"PLAIN": "yes"}
    text = notes_text(conv)
    assert "environment.QUEUE_URL: a CloudFormation value ({'Ref': 'OrdersQueue'}), not a literal" in text
    assert "it names AWS::SQS::Queue OrdersQueue ('orders')" in text
    assert "environment.TABLE: a CloudFormation value" in text and "environment.JOINED:" in text


def test_s3_events(convert) -> None:
    conv = convert(HEAD + """\
  api:
    handler: handler.main
    events:
      - s3: photos
      - s3: {bucket: docs-bucket, event: 's3:ObjectRemoved:*', rules: [{prefix: in/}, {suffix: .pdf}], existing: true}
      - s3: {bucket: docs-bucket, event: 's3:ObjectCreated:Put'}
      - s3: {bucket: X, event: 's3:ObjectRestore:*'}
      - s3: {bucket: '${env:NOPE}'}
""")
    assert [t["storage"] for t in triggers(conv)] == [
        {"bucket": "photos"}, {"bucket": "docs-bucket", "events": ["deleted"], "prefix": "in/", "suffix": ".pdf"},
        {"bucket": "docs-bucket"}]
    text = notes_text(conv)
    assert "events[2].s3.event: s3:ObjectCreated:Put became every created object event" in text
    assert "events[3].s3: bucket 'X' not converted" in text and "events[4].s3: bucket '${env:NOPE}'" in text


def test_other_event_kinds_are_listed_with_what_to_do(convert) -> None:
    conv = convert(HEAD + """\
  api:
    handler: handler.main
    events:
      - sns: topic
      - eventBridge: {pattern: {source: [x]}}
      - websocket: $connect
      - alexaSkill
      - {sqs: arn:aws:sqs:r:1:q, batchSize: 3}
      - 42
      - http: GET /ok
""")
    assert triggers(conv) == [{"http": {"path": "/ok", "methods": ["GET"]}}]
    text = notes_text(conv)
    for expected in ("events[0].sns: 'sns' event not converted: SNS subscriptions", "subscribe an SQS queue",
                     "events[1].eventBridge: 'eventBridge' event not converted",
                     "events[2].websocket:", "events[3].alexaSkill:",
                     "events[4]: not an event (expected one event kind such as http: or sqs:, found sqs, batchSize)",
                     "events[5]: not an event"):
        assert expected in text, expected


def test_wsgi_apps_keep_only_http_triggers(convert) -> None:
    conv = convert(HEAD + """\
  app:
    handler: wsgi_handler.handler
    events:
      - http: ANY /
      - schedule: rate(1 hour)
plugins: [serverless-wsgi]
custom: {wsgi: {app: web.app}}
""", files={"web.py": "from flask import Flask\napp = Flask(__name__)\n"})
    fn = conv.spec["functions"]["app"]
    assert (fn["handler"], fn["style"]) == ("web.app", "wsgi")
    assert [t.get("http", {}).get("path") for t in fn["triggers"]] == ["/"]
    assert "a schedule event on a wsgi app: not converted" in notes_text(conv)
    assert "http_payload" not in fn
