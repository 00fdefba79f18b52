"""Cable lock of one bench connector (a socket outlet), with its feedback contact."""

from __future__ import annotations

import contextlib

from drivers.protocols import DeviceError
from drivers.sim.transport import BenchLink


class SimLock:
    """Moves the bench's cable lock and reports what its feedback says (a :class:`ConnectorLock`)."""

    def __init__(self, link: BenchLink, connector: int) -> None:
        self.link = link
        self.connector = connector
        self.name = f"sim lock {connector}"

    async def open(self) -> None:
        await self.link.probe(self.name, self.connector)

    async def set_locked(self, locked: bool) -> bool:
        reply = await self.link.request_as(self.name, "lock", connector=self.connector, locked=locked)
        return reply.get("locked") is locked

    async def close(self) -> None:
        """Release the cable if the bench can still be reached, so a driver is never locked in."""
        with contextlib.suppress(DeviceError):
            await self.set_locked(False)
