"""Trigger kinds are defined once (multicloud/spec/kinds.py): the Literal types agree with the table, and
the capability rows, invoke's choices and the broker's subjects derive from it."""

from __future__ import annotations

from typing import get_args

from multicloud import capabilities, operations, provider
from multicloud.spec import kinds, models


def test_literals_match_the_table() -> None:
    assert get_args(models.TriggerKind) == kinds.NAMES == models.TRIGGER_KINDS
    assert get_args(provider.TriggerKindOrDirect) == (*kinds.NAMES, kinds.DIRECT)


def test_every_list_of_kinds_derives_from_the_table() -> None:
    assert capabilities.ALL_TRIGGERS == frozenset(kinds.NAMES)
    assert operations.TRIGGERS == (*kinds.NAMES, "direct")
    assert kinds.BATCH == ("queue", "stream") and kinds.EVENT == ("queue", "stream", "storage")
    for row in capabilities.table().values():
        assert row.triggers <= capabilities.ALL_TRIGGERS
