"""The aws executor table (providers/aws/apply.py): every write call a step can declare is a real
operation of botocore's service models (read offline), and a write, so a typo in the table cannot pass
for a step that would never run; reads never appear among declared calls."""

from __future__ import annotations

import botocore.session

from multicloud.providers.aws.apply import OPS

READS = ("Get", "List", "Describe", "Head")


def test_every_declared_call_is_a_real_write_operation() -> None:
    session = botocore.session.get_session()
    declared = {call for op in OPS.values()
                for call in op.calls({"code": {"upload": True}, "stage": True, "kept": ["x"], "entries": {}})}
    for call in sorted(declared):
        service, operation = call.split(":")
        model = session.get_service_model(service)
        assert operation in model.operation_names, call
        assert not operation.startswith(READS), call


def test_plain_sdk_entries_name_themselves() -> None:
    for name, op in OPS.items():
        if ":" in name:  # `service:Operation`: exactly that one call
            assert op.calls({}) == (name,)
