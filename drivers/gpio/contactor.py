"""A contactor switched by one GPIO output, optionally checked through its mirror contact."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from gpiozero import DigitalOutputDevice
from gpiozero.pins import Factory

from drivers.gpio.faults import FaultFeed
from drivers.gpio.pins import WatchedInput, open_output
from drivers.protocols import DeviceError, Fault

WELDED = "closed while commanded open (welded)"
OPEN = "open while commanded closed"


class GpioContactor:
    """A :class:`~drivers.protocols.Contactor` and :class:`~drivers.protocols.FaultReporter`.

    The coil output is claimed de-energised (open) and left de-energised at ``close()``.
    With a mirror contact (IEC 60947-4-1 Annex F: a normally-closed auxiliary contact that
    is mechanically linked to the main contacts, wired so that the input is *active* while
    the main contacts are closed), every ``switch()`` waits up to ``feedback_timeout``
    for the mirror to agree and raises ``DeviceError`` (not retryable) if it does not.
    Between switches the mirror is watched: a main contact that is closed while
    commanded open (welded) or open while commanded closed (dropped out, or never closed) is a
    PowerSwitchFailure fault. A weld clears when the mirror shows the contacts open at
    last: that is the safe state, seen. A contactor that did not close (or dropped out)
    stays faulted after it is commanded open, because opening it proves nothing about the
    fault; otherwise the charger would retry the close in a loop. It clears only when a
    later close succeeds, which the safety path does not attempt: a restart (a Reset from
    the backend, or a technician) clears it. The mirror is debounced by
    ``feedback_debounce`` because contacts bounce for a few milliseconds.
    """

    def __init__(self, connector: int, *, factory: Factory, pin: int, active_high: bool = True,
                 feedback_pin: int | None = None, feedback_active_high: bool = True,
                 feedback_timeout: float = 0.5, feedback_debounce: float = 0.01) -> None:
        if feedback_timeout <= feedback_debounce:
            raise ValueError(f"contactor {connector}: feedback_timeout ({feedback_timeout} s) must exceed "
                             f"feedback_debounce ({feedback_debounce} s)")
        self.connector = connector
        self.name = f"contactor {connector}"
        self.pin = pin
        self.feedback_timeout = feedback_timeout
        self._factory = factory
        self._active_high = active_high
        self._coil: DigitalOutputDevice | None = None
        self._mirror = None if feedback_pin is None else WatchedInput(
            self.name, "mirror contact", factory, feedback_pin, active_high=feedback_active_high,
            debounce=feedback_debounce, on_change=self._mirror_changed)
        self._commanded = False
        self._switching = False
        self._fault: str | None = None  # info of the PowerSwitchFailure now raised
        self._moved = asyncio.Event()
        self._lock = asyncio.Lock()
        self._feed = FaultFeed(self.name)

    async def open(self) -> None:
        """Claim the coil (de-energised) and the mirror; a mirror already closed is a weld fault."""
        self._coil = open_output(self.name, "coil output", self._factory, self.pin, self._active_high)
        self._commanded = False
        if self._mirror is not None:
            try:
                self._mirror.open()
            except DeviceError:
                await self.close()
                raise
            self._check()

    async def switch(self, closed: bool) -> None:
        if self._coil is None:
            raise DeviceError(self.name, f"GPIO{self.pin}: switched before open()", retry=False)
        async with self._lock:
            self._commanded = closed
            self._switching = True
            try:
                self._coil.value = closed
                if self._mirror is not None:
                    await self._await_mirror(closed)
            finally:
                self._switching = False
                self._check()
            if self._mirror is not None and self._mirror.active != closed:
                what = ("welded: commanded open but the mirror contact still says closed" if not closed
                        else "fails to close: commanded closed but the mirror contact still says open")
                raise DeviceError(self.name, f"{what} after {self.feedback_timeout:g} s "
                                  f"(coil GPIO{self.pin}, mirror {self._mirror.address})", retry=False)

    def faults(self) -> AsyncIterator[Fault]:
        return self._feed.faults()

    async def close(self) -> None:
        """De-energise the coil and release the pins; safe to call twice."""
        if self._coil is not None:
            with contextlib.suppress(Exception):  # the pin may be gone; closing must go on
                self._coil.off()
            self._coil.close()
            self._coil = None
        if self._mirror is not None:
            self._mirror.close()

    async def _await_mirror(self, closed: bool) -> None:
        assert self._mirror is not None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.feedback_timeout):
                while self._mirror.active != closed:
                    self._moved.clear()
                    await self._moved.wait()

    def _mirror_changed(self, closed: bool) -> None:
        self._moved.set()
        if not self._switching:
            self._check()

    def _check(self) -> None:
        """Raise or clear the PowerSwitchFailure after a change the command does not explain."""
        if self._mirror is None:
            return
        closed = self._mirror.active
        wrong = None if closed == self._commanded else WELDED if closed else OPEN
        if self._fault == OPEN and wrong is None and not closed:
            wrong = OPEN  # latched: see the class docstring
        if wrong == self._fault:
            return
        if self._fault is not None:
            self._feed.put(Fault(self.connector, "PowerSwitchFailure", False, self._fault))
        self._fault = wrong
        if wrong is not None:
            self._feed.put(Fault(self.connector, "PowerSwitchFailure", True, wrong))
