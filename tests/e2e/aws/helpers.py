"""Shared helpers for the AWS e2e tests: a provider per spec folder, and a botocore-level call counter."""

from __future__ import annotations

from pathlib import Path

from multicloud.providers.aws import AwsProvider

from multicloud.project import Project
from multicloud.provider import BuildResult
from multicloud.state import build_dir

READ_PREFIXES = ("Get", "List", "Describe", "Head")


def provider(root: Path) -> AwsProvider:
    return AwsProvider(Project.load(root))


def build(p: AwsProvider) -> BuildResult:
    return p.build(build_dir(p.project, "aws"))


class CallLog:
    """Every API call the provider's boto3 session makes, seen through botocore's `before-call` event."""

    def __init__(self, p: AwsProvider) -> None:
        self.calls: list[str] = []
        p.aws.session.events.register("before-call.*.*", self._hook)

    def _hook(self, model: object, **_: object) -> None:
        service = model.service_model.service_name  # type: ignore[attr-defined]
        self.calls.append(f"{service}:{model.name}")  # type: ignore[attr-defined]

    @property
    def writes(self) -> list[str]:
        return [c for c in self.calls if not c.split(":", 1)[1].startswith(READ_PREFIXES)]
