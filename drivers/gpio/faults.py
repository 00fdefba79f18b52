"""The fault stream of a GPIO device (see :class:`drivers.protocols.FaultReporter`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import structlog

from drivers.protocols import Fault

log = structlog.get_logger(__name__)


class FaultFeed:
    """Faults raised and cleared by one device, kept until its one watcher reads them.

    The queue exists from construction, so a fault noticed during ``open()`` (an input
    already tripped) waits for the agent's watcher instead of being lost. Each change is
    logged once here, when it happens, never repeatedly.
    """

    def __init__(self, device: str) -> None:
        self.device = device
        self._queue: asyncio.Queue[Fault] = asyncio.Queue()

    def put(self, fault: Fault) -> None:
        """Publish a change (loop thread only)."""
        if fault.active:
            log.warning("fault raised", device=self.device, connector=fault.connector, error_code=fault.error_code,
                        info=fault.info, vendor_error_code=fault.vendor_error_code)
        else:
            log.info("fault cleared", device=self.device, connector=fault.connector, error_code=fault.error_code,
                     info=fault.info)
        self._queue.put_nowait(fault)

    async def faults(self) -> AsyncIterator[Fault]:
        while True:
            yield await self._queue.get()
