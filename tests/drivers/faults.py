"""Reading a driver's ``faults()`` stream in a test the way the agent's watcher does."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from drivers.protocols import Fault, FaultReporter


@contextlib.asynccontextmanager
async def watching(reporter: FaultReporter) -> AsyncIterator[asyncio.Queue[Fault]]:
    """The reporter's faults, read by a task in a TaskGroup as the agent's watcher does."""
    queue: asyncio.Queue[Fault] = asyncio.Queue()

    async def pump() -> None:
        async for fault in reporter.faults():
            queue.put_nowait(fault)

    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(pump())
        try:
            yield queue
        finally:
            task.cancel()


async def next_fault(queue: asyncio.Queue[Fault], timeout: float = 0.5) -> Fault:
    async with asyncio.timeout(timeout):
        return await queue.get()
