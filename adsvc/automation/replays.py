"""Where backtest replays run: a few worker processes per web process, each replay waiting for one of
BACKTEST_CONCURRENCY slots (up to BACKTEST_QUEUE_SECONDS).

Not threads: a replay is pure Python over hundreds of thousands of object-days, and in a thread it shares the event
loop's interpreter. The loop then waits for the GIL at every wake-up (up to the 5 ms switch interval, several times
per request) and through every full garbage collection over the replay's millions of objects; with 4 backtests at
once /health waited close to a second (benchmarks/bench_backtests.py). In a worker process the replay fetches its
own rows, so nothing of it but the small result crosses back into this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

T = TypeVar("T")


# Replays yield the CPU to the web process that shares it: a request waiting behind a replay is what we avoid.
REPLAY_NICENESS = 10


def _start_worker() -> None:
    with contextlib.suppress(OSError):
        os.nice(REPLAY_NICENESS)
    # a Ctrl-C reaches the whole process group; the web process ends its workers itself (ReplayPool.close)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class ReplaySlotsBusy(Exception):
    """Every slot stayed taken for the whole queue time."""


class ReplayPool:
    def __init__(self, *, processes: int, queue_seconds: float) -> None:
        self.processes = processes
        self.queue_seconds = queue_seconds
        self._slots = asyncio.Semaphore(processes)
        self._executor: ProcessPoolExecutor | None = None

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """One slot, waited for up to `queue_seconds` (then ReplaySlotsBusy)."""
        try:
            async with asyncio.timeout(self.queue_seconds):
                await self._slots.acquire()
        except TimeoutError:
            raise ReplaySlotsBusy() from None
        try:
            yield
        finally:
            self._slots.release()

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """`function(*args)` in a worker process (started on first use; `spawn`, so no thread state is forked)."""
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                self.processes, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker
            )
        executor = self._executor
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, function, *args)
        except BrokenProcessPool:
            # a worker died (killed, out of memory): the next replay starts a fresh pool
            if self._executor is executor:
                self._executor = None
            raise

    async def close(self) -> None:
        if self._executor is not None:
            executor, self._executor = self._executor, None
            await asyncio.to_thread(executor.shutdown, True, cancel_futures=True)
