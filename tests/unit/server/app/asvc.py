"""`async def` handlers served by the runtime under test (the server imports this file, as a user's code)."""

from __future__ import annotations

import asyncio
import os
import sys
import threading

import svc

_loops: set[int] = set()  # the loops the handlers ran on: one, the server's


async def hello(event, context):
    await asyncio.sleep(0)  # really suspends: the loop runs other work meanwhile
    _loops.add(id(asyncio.get_running_loop()))
    return {"hello": event.http.path_params.get("name", "world"), "thread": threading.current_thread().name,
            "loops": len(_loops), "remaining_ms": context.remaining_time_ms(), "request_id": context.request_id}


async def sleepy(event, context):
    """Sleeps `s` seconds; writes to MARK_FILE whether it finished or was cancelled (the handler stopped)."""
    mark = os.environ.get("MARK_FILE")
    tag = event.http.query_value("tag", "")
    try:
        await asyncio.sleep(float(event.http.query_value("s", "2")))
    except asyncio.CancelledError:
        if mark:
            with open(mark, "a") as fh:
                fh.write(f"cancelled {tag}\n")
        raise
    if mark:
        with open(mark, "a") as fh:
            fh.write(f"finished {tag}\n")
    return {"slept": True, "thread": threading.current_thread().name}


async def boom(event, context):
    await asyncio.sleep(0)
    raise RuntimeError("async kaboom")


async def exits(event, context):
    await asyncio.sleep(0)
    sys.exit(3)  # inside a task on the server's loop: must be a 500, not the end of the server


class Greeter:
    """An object whose `__call__` is `async def`."""

    async def __call__(self, event, context):
        await asyncio.sleep(0)
        return {"greeter": True, "thread": threading.current_thread().name}


greeter = Greeter()


async def on_event(event, context):
    """The same answers as svc.on_event (BatchResult, a storage failure, a direct value), from an async def."""
    await asyncio.sleep(0)
    result = svc.on_event(event, context)
    if event.kind == "direct":
        return {**result, "thread": threading.current_thread().name}
    return result
