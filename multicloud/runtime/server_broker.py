"""Runs the event consumer (consumer.py) beside the threaded HTTP server: its own event loop in one thread.

Handlers are called through `RuntimeApp.run_batch` in a thread pool as wide as the server's concurrency,
so a batch takes one of the same slots as an HTTP request and runs under the function's timeout. When the
server drains (SIGTERM), the consumer drains first: no new pulls, buffered messages are given back, the
batches being handled finish and are acknowledged.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from multicloud.runtime.consumer import Consumer, Outcome, StartError
from multicloud.runtime.events import Event

if TYPE_CHECKING:
    from multicloud.runtime.server_app import RuntimeApp
    from multicloud.runtime.server_log import JsonLog


class BrokerThread:
    def __init__(self, app: RuntimeApp, password: str, log: JsonLog) -> None:
        config = app.config
        assert config.broker is not None
        self.app = app
        self.log = log
        self.loop = asyncio.new_event_loop()
        self.pool = ThreadPoolExecutor(max_workers=config.limits.concurrency, thread_name_prefix="event")
        self.thread = threading.Thread(target=self.loop.run_forever, name="broker", daemon=True)
        self.consumer = Consumer(config.broker, password, self.invoke, log.write,
                                 source=f"/{config.target}/{config.service}", new_id=app.request_id,
                                 workers=max(1, min(4, config.limits.concurrency // 2)),
                                 name=f"multicloud-runtime {config.service}")

    async def invoke(self, name: str, event: Event) -> Outcome:
        timeout = self.app.config.functions[name].timeout
        future = self.loop.run_in_executor(self.pool, self.app.run_batch, name, event)
        try:
            failed, error = await asyncio.wait_for(asyncio.shield(future), timeout + 1.0)
        except asyncio.TimeoutError:
            # Python cannot stop the thread: it keeps its slot until it returns, as for HTTP requests
            return Outcome(None, f"the function timed out after {timeout:g} s")
        return Outcome(failed, error)

    def start(self, timeout: float = 30.0) -> None:
        """Connect and bind every subscription; raise StartError (the server refuses to start) if it cannot."""
        self.thread.start()
        future = asyncio.run_coroutine_threadsafe(self.consumer.start(timeout), self.loop)
        try:
            future.result(timeout + 5)
        except StartError:
            self.stop()
            raise
        except Exception as exc:
            self.stop()
            raise StartError(f"{type(exc).__name__}: {exc}") from exc

    def drain(self, timeout: float) -> None:
        future = asyncio.run_coroutine_threadsafe(self.consumer.drain(), self.loop)
        try:
            future.result(timeout)
        except Exception as exc:  # noqa: BLE001 - a drain that times out still lets the server stop
            self.log.event("event consumer did not drain in time", level="WARNING", error=type(exc).__name__)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.pool.shutdown(wait=False)

    def stop(self) -> None:
        if self.thread.is_alive():
            asyncio.run_coroutine_threadsafe(self.consumer.stop(), self.loop).result(5)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.pool.shutdown(wait=False)
