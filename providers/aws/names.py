"""Resource names and ownership tags: how multicloud recognises what it created on AWS.

Every resource is named `<service>-<stage>-<function>` (plus a suffix where one function owns several of
a kind) and tagged where the service supports tags, so `remove` deletes exactly what it created.
"""

from __future__ import annotations

from dataclasses import dataclass

ALIAS = "live"
MANAGED_BY = "multicloud"
TAG_MANAGED = "multicloud:managed-by"
TAG_SERVICE = "multicloud:service"
TAG_STAGE = "multicloud:stage"
TAG_FUNCTION = "multicloud:function"
ENTRY_MODULE = "_multicloud_entry"
SECRETS_ENV = "MULTICLOUD_SECRETS"


@dataclass(frozen=True)
class Names:
    service: str
    stage: str
    function: str

    @property
    def base(self) -> str:
        return f"{self.service}-{self.stage}-{self.function}"

    @property
    def lambda_name(self) -> str:
        return self.base[:64]

    @property
    def role(self) -> str:
        return self.base[:64]

    @property
    def scheduler_role(self) -> str:
        return f"{self.base[:54]}-scheduler"

    @property
    def policy(self) -> str:
        return "multicloud-execution"

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.lambda_name}"

    def schedule(self, index: int) -> str:
        return f"{self.base[:60]}-{index}"

    @property
    def statement_prefix(self) -> str:
        return "multicloud-"

    @property
    def notification_prefix(self) -> str:
        return f"multicloud-{self.base}-"

    @property
    def handler(self) -> str:
        return f"{ENTRY_MODULE}.{self.function}"

    def tags(self, extra: dict[str, str]) -> dict[str, str]:
        return {**extra, TAG_MANAGED: MANAGED_BY, TAG_SERVICE: self.service, TAG_STAGE: self.stage,
                TAG_FUNCTION: self.function}
