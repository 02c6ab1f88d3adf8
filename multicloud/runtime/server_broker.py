"""Queue, stream and storage triggers on the server's own loop: the event consumer as a background service.

The consumer (consumer.py) is asyncio code, so it runs on the event loop uvicorn serves HTTP on, as one of
the app's background services (server_app.Background), not on a loop thread of its own:

* setup, before the server listens and reports ready: connect and bind every subscription's consumer; a
  failure refuses the start (exit 1, a supervisor retries), so a version that cannot consume never
  replaces one that can;
* each batch runs through `RuntimeApp.invoke`: one of the same worker-pool slots as an HTTP request, the
  function's timeout from arrival, the same handler logging with secret values masked. The consumer
  writes one `type: event` line per batch (after its acks), so invoke writes none of its own. A full
  server (every slot busy and the wait queue full: what HTTP clients get 429 for) is not the handler's
  failure, so a batch waits for room (up to the function's timeout) instead of spending one of the
  messages' attempts and ending in the dead letters because of HTTP load;
* on SIGTERM the drain event is set before connections are closed: no new pulls, buffered messages are
  given back at once (another replica takes them), the batches being handled finish and are
  acknowledged, then the connection is flushed and closed.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from multicloud.runtime.consumer import Consumer, Outcome, StartError
from multicloud.runtime.events import Event

if TYPE_CHECKING:
    from multicloud.runtime.intake import Intake
    from multicloud.runtime.server_app import RuntimeApp

START_TIMEOUT = 30.0
BUSY_RETRY_S = (0.02, 0.5)  # first and longest wait before asking again for a slot of a full server


class BrokerService:
    def __init__(self, app: RuntimeApp, password: str, start_timeout: float = START_TIMEOUT) -> None:
        config = app.config
        assert config.broker is not None
        self.app = app
        self.start_timeout = start_timeout
        self.consumer = Consumer(config.broker, password, self.invoke, app.log.write,
                                 source=f"/{config.target}/{config.service}", new_id=app.request_id,
                                 workers=max(1, min(4, config.limits.concurrency // 2)),
                                 name=f"multicloud-runtime {config.service}")

    async def invoke(self, name: str, event: Event) -> Outcome:
        app = self.app
        deadline = time.monotonic() + app.timeouts[name]
        delay, longest = BUSY_RETRY_S
        while True:
            outcome = await app.invoke(name, event, request_id=event.id, log_type=None)
            if outcome.status != 429 or app.draining or time.monotonic() + delay > deadline:
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, longest)
        if outcome.status == 200:
            return Outcome(outcome.failed)
        return Outcome(None, outcome.error or f"status {outcome.status}")

    async def setup(self, app: RuntimeApp) -> None:
        try:
            await self.consumer.start(self.start_timeout)
        except BaseException as exc:
            await self.consumer.stop()
            if isinstance(exc, StartError):
                raise StartError(f"event triggers: {exc}") from exc
            raise

    async def run(self, app: RuntimeApp) -> None:
        assert app.drain_event is not None
        try:
            await app.drain_event.wait()
            await self.consumer.drain()
        except BaseException:
            await self.consumer.stop()  # cancelled at the drain deadline: close the connection anyway
            raise


def add_broker(app: RuntimeApp, password: str) -> BrokerService:
    """Register the consumer of `app.config.broker` as the app's `broker` background service."""
    service = BrokerService(app, password)
    app.background.add("broker", service.run, setup=service.setup)
    return service


def add_intake(app: RuntimeApp, password: str) -> Intake:
    """The HTTP intake's producer connection (runtime/intake.py) as the app's `intake` background service:
    connected before the server reports ready (a broker that refuses the producer refuses the start, as
    it does for the consumer), closed after the drain's grace, once the last intake requests published."""
    from multicloud.runtime.intake import Intake

    broker = app.config.broker
    assert broker is not None and broker.intake is not None
    intake = Intake(broker.servers, broker.intake, password, app.log.write,
                    name=f"multicloud-intake {app.config.service}")

    async def setup(_app: RuntimeApp) -> None:
        try:
            await intake.connect(START_TIMEOUT)
        except RuntimeError as exc:
            raise StartError(f"HTTP intake: {exc}") from exc

    async def run(_app: RuntimeApp) -> None:
        assert app.drain_event is not None
        try:
            await app.drain_event.wait()
        finally:
            await intake.close(app.limits.drain_grace)

    app.intake = intake
    app.background.add("intake", run, setup=setup)
    return intake
