"""Spec folders for the AWS functional tests (no cloud, no emulator: real build, validators, runtime)."""

from __future__ import annotations

from pathlib import Path

APP = '''
import json

from multicloud import Response


def hello(event, context):
    if event.kind == "http":
        return Response(200, {"content-type": "text/plain"}, "hi " + event.http.path)
    seen = {"kind": event.kind, "type": event.type,
            "messages": [m.body.decode() for m in event.messages] if event.kind in ("queue", "stream") else None,
            "key": event.storage.key if event.kind == "storage" else None}
    print("EVENT", json.dumps(seen))  # event handlers' results are not returned to the platform
    return None
'''

FULL = """\
service: shop
functions:
  hello:
    handler: app.hello
    memory: 512
    timeout: 20
    env: {MODE: prod}
    secrets:
      API_KEY: ssm:/shop/api-key
      DB_PASSWORD: {aws: "secretsmanager:shop/db", docker: "env:DB_PASSWORD"}
    triggers:
      - http: {path: /hello, methods: [GET, POST]}
      - queue: {name: orders, batch_size: 5}
      - stream: {name: clicks}
      - storage: {bucket: uploads, prefix: in/}
      - schedule: {rate: 1h}
      - schedule: {cron: "30 6 * * 0"}
targets:
  aws: {stage: prod, http: HTTP_MODE}
"""


def write(root: Path, spec: str = FULL, *, http: str = "function_url", requirements: str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "app.py").write_text(APP)
    text = spec.replace("HTTP_MODE", http)
    if requirements is not None:
        (root / "requirements.txt").write_text(requirements)
        text = "requirements: requirements.txt\n" + text
    (root / "multicloud.yaml").write_text(text)
    return root
