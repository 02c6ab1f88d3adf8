"""A throwaway service deployed to the real `local` target (supervisor + runtime processes on 127.0.0.1)."""

from __future__ import annotations

from pathlib import Path

from multicloud.project import Project
from multicloud.providers.local import LocalProvider
from multicloud.state import build_dir

SPEC = """\
service: shop
functions:
  api:
    handler: app.main
    timeout: 10
    triggers:
      - http: {path: "/items/{id}", methods: [GET]}
      - http: {path: /slow, methods: [GET]}
  admin:
    handler: app.admin
    secrets:
      TOKEN: {local: "env:SHOP_E2E_TOKEN", aws: "ssm:/shop/token"}
    triggers:
      - http: {path: /admin, methods: [GET, POST], auth: key}
  worker:
    handler: app.work
    triggers:
      - queue: {name: orders}
"""

APP = """\
import os
import time
from multicloud import BatchResult

VERSION = "{version}"


def main(event, context):
    if event.http.path == "/slow":
        time.sleep(float(event.http.query_value("s", "1")))
    return {{"version": VERSION, "id": event.http.path_params.get("id"), "pid": os.getpid()}}


def admin(event, context):
    context.logger.info("admin called", kind=event.kind)
    return {{"token_ok": os.environ.get("TOKEN") == "e2e-token", "version": VERSION}}


def work(event, context):
    context.logger.info("batch", size=len(event.messages))
    return BatchResult(failed=[m.id for m in event.messages if m.text == "bad"])
"""


class Deployment:
    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, version: str, extra: str = "") -> None:
        (self.root / "app.py").write_text(APP.format(version=version) + extra)

    @property
    def project(self) -> Project:
        return Project.load(self.root)

    @property
    def provider(self) -> LocalProvider:
        return LocalProvider(self.project)

    def build_and_deploy(self, progress=lambda _m: None):
        provider = self.provider
        build = provider.build(build_dir(provider.project, "local"), progress)
        return build, provider.deploy(build, progress)
