"""Contactor of one bench connector, with its feedback contact."""

from __future__ import annotations

import contextlib

from drivers.protocols import DeviceError
from drivers.sim.transport import BenchLink


class SimContactor:
    """Switches the bench's contactor and checks the feedback (a :class:`Contactor`)."""

    def __init__(self, link: BenchLink, connector: int) -> None:
        self.link = link
        self.connector = connector
        self.name = f"sim contactor {connector}"

    async def open(self) -> None:
        """Probe the bench and make sure the contactor starts open."""
        await self.link.probe(self.name, self.connector)
        await self.switch(False)

    async def switch(self, closed: bool) -> None:
        reply = await self.link.request_as(self.name, "contactor", connector=self.connector, closed=closed)
        feedback = reply.get("feedback")
        if feedback is not closed:
            seen = "closed" if feedback is True else "open" if feedback is False else repr(feedback)
            raise DeviceError(
                self.name, f"commanded {'closed' if closed else 'open'} but feedback says {seen}", retry=False
            )

    async def close(self) -> None:
        """Leave the contactor open if the bench can still be reached (safe state)."""
        with contextlib.suppress(DeviceError):
            await self.switch(False)
