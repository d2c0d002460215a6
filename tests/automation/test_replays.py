"""The worker processes backtests replay in: results come back from another process, a worker that dies fails only
its own replay, and the slots bound how many run at once."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures.process import BrokenProcessPool

import pytest

from adsvc.automation.replays import ReplayPool, ReplaySlotsBusy


def _pid_and_niceness(_: object) -> tuple[int, int]:
    return os.getpid(), os.nice(0)


def _die(_: object) -> None:
    os._exit(3)


async def test_replays_run_in_other_lower_priority_processes_and_a_dead_one_is_replaced():
    pool = ReplayPool(processes=1, queue_seconds=1)
    try:
        pid, niceness = await pool.run(_pid_and_niceness, None)
        assert pid != os.getpid() and niceness >= os.nice(0) + 1
        with pytest.raises(BrokenProcessPool):
            await pool.run(_die, None)
        replacement, _ = await pool.run(_pid_and_niceness, None)
        assert replacement not in (pid, os.getpid())
    finally:
        await pool.close()


async def test_a_replay_waits_for_a_slot_and_gives_up_after_the_queue_time():
    pool = ReplayPool(processes=1, queue_seconds=0.2)

    async def take_a_slot() -> bool:
        async with pool.slot():
            return True

    async with pool.slot():
        with pytest.raises(ReplaySlotsBusy):
            await take_a_slot()
        waiting = asyncio.ensure_future(take_a_slot())
        await asyncio.sleep(0.05)
        assert not waiting.done()
    assert await asyncio.wait_for(waiting, 1)  # freed within the queue time: the waiter gets the slot
