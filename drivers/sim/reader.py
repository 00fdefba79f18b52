"""The charger's card reader on the bench."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from drivers.sim.transport import BenchLink


class SimCardReader:
    """Yields the UIDs of cards tapped on the bench (a :class:`CardReader`)."""

    name = "sim card reader"

    def __init__(self, link: BenchLink) -> None:
        self.link = link
        self._queue: asyncio.Queue[str] | None = None

    async def open(self) -> None:
        await self.link.probe(self.name)
        self._subscribe()  # from here on no tap is lost, even before cards() is iterated

    def _subscribe(self) -> asyncio.Queue[str]:
        if self._queue is None:
            self._queue = self.link.subscribe_cards()
        return self._queue

    async def cards(self) -> AsyncIterator[str]:
        queue = self._subscribe()
        while True:
            yield (await queue.get()).upper()

    async def close(self) -> None:
        if self._queue is not None:
            self.link.unsubscribe(self._queue)
            self._queue = None
