"""WorkerPool slots shared by worker threads and calls on the event loop (server_asgi): one limit, one queue
bound, a freed slot handed on in both directions, a waiter that gave up leaves no trace; the calls' timeouts
on one shared timer (Deadlines). Real threads, a real asyncio loop."""

from __future__ import annotations

import asyncio
import threading

import pytest

from multicloud.runtime.server_pool import CallTimeout, Deadlines, QueueFull, WorkerPool


def test_loop_slots_and_thread_calls_share_one_limit() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        pool = WorkerPool(2, 2)
        assert pool.acquire(loop) is None  # a free slot: held at once
        gate = threading.Event()
        thread_call = pool.submit(loop, lambda: gate.wait(5) and "ran")
        await asyncio.sleep(0.05)
        assert (pool.running, pool.waiting) == (2, 0)
        waiter = pool.acquire(loop)  # both slots taken: queued
        assert waiter is not None and pool.waiting == 1
        queued_call = pool.submit(loop, lambda: "second")
        with pytest.raises(QueueFull):
            pool.acquire(loop)  # 2 running + 2 waiting
        gate.set()  # the thread's call ends: its slot goes to the loop's waiter first
        assert await thread_call == "ran"
        await asyncio.wait_for(waiter, 2)
        assert pool.running == 2 and pool.waiting == 1
        pool.release(loop)  # one loop slot back: the queued thread call runs
        pool.release(loop)
        assert await asyncio.wait_for(queued_call, 2) == "second"
        assert await pool.wait_idle(loop.time() + 2) and (pool.running, pool.waiting) == (0, 0)

    asyncio.run(scenario())


def test_a_waiter_that_gave_up_leaves_the_queue_and_a_late_grant_is_returned() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        pool = WorkerPool(1, 5)
        assert pool.acquire(loop) is None
        gone = pool.acquire(loop)
        assert gone is not None
        pool.abandon(gone)  # its deadline passed
        assert pool.waiting == 0
        late = pool.acquire(loop)
        assert late is not None
        late.cancel()  # gave up, but is still queued when the slot frees: the grant comes straight back
        pool.release(loop)
        assert (pool.running, pool.waiting) == (0, 0)

    asyncio.run(scenario())


def test_one_timer_expires_each_call_at_its_own_deadline() -> None:
    """A shorter timeout watched after a longer one re-arms the timer; a call that ends in time is left
    alone; nothing stays watched."""

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        deadlines = Deadlines(loop)
        slow, quick, finished = loop.create_future(), loop.create_future(), loop.create_future()
        start = loop.time()
        deadlines.watch(slow, 1.5)
        deadlines.watch(quick, 0.15)
        deadlines.watch(finished, 0.05)
        finished.set_result("in time")
        deadlines.forget(finished)
        with pytest.raises(CallTimeout):
            await quick
        quick_at = loop.time() - start
        with pytest.raises(CallTimeout):
            await slow
        slow_at = loop.time() - start
        assert 0.14 <= quick_at < 1.0 and 1.49 <= slow_at < 3.0, (quick_at, slow_at)  # quick: long before slow
        assert finished.result() == "in time" and not deadlines.calls and deadlines.timer is None

    asyncio.run(scenario())
