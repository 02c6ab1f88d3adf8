"""boto3 session and clients, created lazily and only here.

Everything boto3 reads from its standard configuration keeps working: credentials chain, profiles,
`AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>`, `AWS_DEFAULT_REGION`. The spec may pin a region.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from multicloud.errors import OperationError


class Aws:
    """One boto3 session per provider; clients share its event hooks (tests count calls through them)."""

    def __init__(self, region: str | None) -> None:
        self._region = region
        self._clients: dict[str, Any] = {}

    @cached_property
    def session(self) -> Any:
        import boto3

        return boto3.session.Session(region_name=self._region) if self._region else boto3.session.Session()

    @property
    def region(self) -> str:
        region = self.session.region_name
        if not region:
            raise OperationError(
                "no AWS region is configured",
                fix="set targets.aws.region in multicloud.yaml, AWS_DEFAULT_REGION, or a region in ~/.aws/config",
            )
        return str(region)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            from botocore.config import Config

            config = Config(retries={"mode": "standard", "max_attempts": 5}, user_agent_extra="multicloud")
            self._clients[service] = self.session.client(service, region_name=self.region, config=config)
        return self._clients[service]

    @cached_property
    def identity(self) -> tuple[str, str]:
        """(partition, account id) of the caller."""
        arn = self.client("sts").get_caller_identity()["Arn"]
        parts = str(arn).split(":")
        return parts[1], parts[4]

    @property
    def partition(self) -> str:
        return self.identity[0]

    @property
    def account(self) -> str:
        return self.identity[1]

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return (f"arn:{self.partition}:{service}:{self.region if region else ''}:"
                f"{self.account if account else ''}:{resource}")
