"""`async def` portable handlers. Each process keeps one client session (it stands for an aiohttp or httpx
client: bound to the event loop it was created on, as theirs are), made at the first call."""

from __future__ import annotations

import asyncio
import json
import os

from multicloud import BatchResult


class Session:
    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.calls = 0

    async def get(self) -> int:
        if asyncio.get_running_loop() is not self.loop:
            raise RuntimeError("this session belongs to another event loop")
        await asyncio.sleep(0)
        self.calls += 1
        return self.calls


_session = None


async def _call_session() -> int:
    global _session
    if _session is None:
        _session = Session()
    return await _session.get()


def _seen(record: dict) -> None:
    path = os.environ.get("STYLES_SEEN")
    if path:
        with open(path, "a") as fh:
            fh.write(json.dumps(record) + "\n")


async def hello(event, context):
    calls = await _call_session()
    return {"hello": event.http.query_value("name", "world"), "session_calls": calls}


async def slow(event, context):
    try:
        await asyncio.sleep(float(event.http.query_value("s", "10")))
    except asyncio.CancelledError:
        _seen({"cancelled": event.http.query_value("tag", "")})
        raise
    return {"slept": True}


async def orders(event, context):
    await _call_session()
    _seen({"kind": event.kind, "bodies": [m.text for m in event.messages]})
    return BatchResult(failed=[m.id for m in event.messages if m.text.startswith("fail")])


async def on_event(event, context):
    await _call_session()
    record = {"kind": event.kind}
    if event.kind == "storage":
        record["key"] = event.storage.key
    _seen(record)
