"""The one path every hardware fault takes: contactors open first, the report second.

A driver that notices a fault by itself (an RCD trip, an emergency stop, a contactor
that welded, a reader that vanished) yields a :class:`drivers.protocols.Fault`. This
module turns it into the state machine's FaultRaised/FaultCleared events, but only
after every contactor the fault concerns has been commanded open, directly, ahead of
whatever the connectors' workers are busy with (a journal write must never delay an
RCD trip). While a trip is being carried out its connectors are *held*: a worker that
was just closing a contactor re-opens it at once (see ``ChargerRuntime``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable

import structlog

from drivers.protocols import Contactor, DeviceError, Fault, FaultReporter

from .session.model import Event, FaultCleared, FaultRaised

log = structlog.get_logger(__name__)

SWITCH_FAILURE = "PowerSwitchFailure"
#: How long one contactor may take to confirm it opened before the report goes on anyway.
OPEN_TIMEOUT_S = 2.0


class SafetyPath:
    """Carries each fault to the contactors, then to the state machine."""

    def __init__(self, contactors: dict[int, Contactor], feed: Callable[[Event], object]) -> None:
        self.contactors = contactors
        self.feed = feed
        #: Connectors whose contactor must not close while a trip is being carried out.
        self.held: set[int] = set()
        #: Seconds from the last fault's arrival to its contactors commanded open (for ``make bench``).
        self.last_open_s: float | None = None
        #: (connector, error code) -> (info, vendorErrorCode) of the active faults, for StatusNotification.
        self._details: dict[tuple[int, str], tuple[str, str]] = {}

    def details(self, connector: int, code: str) -> tuple[str, str]:
        """StatusNotification's info and vendorErrorCode for a connector reported with ``code``
        (a charger-wide fault's details show on every connector it faults)."""
        return self._details.get((connector, code)) or self._details.get((0, code)) or ("", "")

    def reporting(self, connector: int, code: str) -> bool:
        """Whether a device reports the fault as active now (its own clearing ends it)."""
        return (connector, code) in self._details

    def targets(self, connector: int) -> list[int]:
        """The connectors a fault concerns: all of them for connector 0."""
        return sorted(self.contactors) if connector == 0 else [connector] if connector in self.contactors else []

    async def raise_fault(self, connector: int, code: str, info: str = "", vendor_error_code: str = "") -> None:
        """Open the contactors the fault concerns, then report it."""
        targets = self.targets(connector)
        began = time.perf_counter()
        self.held.update(targets)
        try:
            failed = await self._open_all(targets)
            self.last_open_s = time.perf_counter() - began
            log.error("fault", connector=connector, error_code=code, info=info, vendor_error_code=vendor_error_code,
                      contactors_opened=targets)
            self._details[(connector, code)] = (info[:50], vendor_error_code[:50])
            self.feed(FaultRaised(connector, code))
            for n in failed:
                self.feed(FaultRaised(n, SWITCH_FAILURE))
        finally:
            self.held.difference_update(targets)

    def clear_fault(self, connector: int, code: str) -> None:
        log.info("fault cleared", connector=connector, error_code=code)
        self._details.pop((connector, code), None)
        self.feed(FaultCleared(connector, code))

    async def on_fault(self, fault: Fault) -> None:
        if fault.active:
            await self.raise_fault(fault.connector, fault.error_code, fault.info, fault.vendor_error_code)
        else:
            self.clear_fault(fault.connector, fault.error_code)

    async def watch(self, reporter: FaultReporter) -> None:
        """Follow one device's faults for as long as the charger runs."""
        async for fault in reporter.faults():
            await self.on_fault(fault)

    async def _open_all(self, targets: Iterable[int]) -> list[int]:
        """Command every target open at once; the connectors whose contactor did not confirm."""
        numbers = list(targets)
        results = await asyncio.gather(
            *(asyncio.wait_for(self.contactors[n].switch(False), OPEN_TIMEOUT_S) for n in numbers),
            return_exceptions=True,
        )
        failed = []
        for n, result in zip(numbers, results):
            if isinstance(result, (DeviceError, TimeoutError)):
                log.critical("contactor did not open on a fault", connector=n, error=str(result) or "timeout")
                failed.append(n)
            elif isinstance(result, BaseException):
                raise result
        return failed
