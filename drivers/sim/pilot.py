"""Control pilot of one bench connector."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from drivers.protocols import DeviceError, PilotState
from drivers.sim.transport import BenchLink


class SimPilot:
    """Reads the EV's pilot state and offers current by PWM (a :class:`Pilot`)."""

    def __init__(self, link: BenchLink, connector: int) -> None:
        self.link = link
        self.connector = connector
        self.name = f"sim pilot {connector}"
        self._queue: asyncio.Queue[PilotState] | None = None

    async def open(self) -> None:
        await self.link.probe(self.name, self.connector)
        self._subscribe()

    def _subscribe(self) -> asyncio.Queue[PilotState]:
        if self._queue is None:
            self._queue = self.link.subscribe_pilot(self.connector)
        return self._queue

    async def states(self) -> AsyncIterator[PilotState]:
        """The latest state first (older queued ones are stale), then each change in order."""
        queue = self._subscribe()
        last = await queue.get()
        while not queue.empty():
            last = queue.get_nowait()
        yield last
        while True:
            state = await queue.get()
            if state is not last:
                last = state
                yield state

    async def offer(self, current_a: float) -> None:
        if current_a < 0:
            raise DeviceError(self.name, f"cannot offer a negative current ({current_a} A)", retry=False)
        await self.link.request_as(self.name, "offer", connector=self.connector, current_a=float(current_a))

    async def close(self) -> None:
        if self._queue is not None:
            self.link.unsubscribe(self._queue)
            self._queue = None
