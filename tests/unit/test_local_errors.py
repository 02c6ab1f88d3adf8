"""The local target's error translation (providers/local/errors.py): an error nats-py raises while the
provider talks to the service's broker leaves the provider's flow as an OperationError (exit 1) that names
the broker and where its log is, never as a traceback; anything else is left alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from nats.errors import NoServersError
from nats.js.errors import APIError

from multicloud.errors import OperationError
from multicloud.project import Project
from multicloud.providers.local import LocalProvider


@pytest.fixture
def provider(tmp_path: Path) -> LocalProvider:
    (tmp_path / "app.py").write_text("def f(event, context):\n    return None\n")
    (tmp_path / "multicloud.yaml").write_text("service: errs\nfunctions:\n  f: {handler: app.f}\n")
    return LocalProvider(Project.load(tmp_path))


@pytest.mark.parametrize("exc", [APIError(code=503, description="insufficient resources", err_code=10023),
                                 NoServersError()])
def test_broker_errors_leave_the_flow_as_operation_errors(provider: LocalProvider, exc: Exception) -> None:
    with pytest.raises(OperationError) as raised, provider._translated("deploy"):
        raise exc
    assert raised.value.exit_code == 1 and raised.value.__cause__ is exc
    assert "local broker (nats-server) refused" in raised.value.what and "broker.log" in (raised.value.fix or "")


def test_other_errors_are_left_alone(provider: LocalProvider) -> None:
    assert provider.translate_error(KeyError("x")) is None
    with pytest.raises(ZeroDivisionError), provider._translated("deploy"):
        raise ZeroDivisionError
