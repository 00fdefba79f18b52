"""The cable lock of a socket outlet: a held solenoid or a pulsed motor actuator."""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from gpiozero import DigitalOutputDevice
from gpiozero.pins import Factory

from drivers.gpio.pins import WatchedInput, open_output
from drivers.protocols import DeviceError

log = structlog.get_logger(__name__)


class GpioLock:
    """A :class:`~drivers.protocols.ConnectorLock` with a position feedback contact.

    Without ``unlock_pin`` the lock is a solenoid: ``lock_pin`` is held active while
    locked, so a power cut releases the cable. With ``unlock_pin`` it is a motor actuator
    (the common 12 V socket locks) driven through an H-bridge: ``lock_pin`` or
    ``unlock_pin`` is pulsed for ``pulse`` seconds, never both at once (that would short
    the bridge). Either way ``set_locked`` answers True only when the feedback (active =
    locked) confirms the position within ``timeout`` seconds of the command. The lock
    starts and ends unlocked, so a driver is never left with a trapped cable by a restart.
    """

    def __init__(self, connector: int, *, factory: Factory, lock_pin: int, unlock_pin: int | None = None,
                 feedback_pin: int, feedback_active_high: bool = True, pulse: float = 0.3, timeout: float = 1.0,
                 feedback_debounce: float = 0.01) -> None:
        if unlock_pin is not None and timeout < pulse:
            raise ValueError(f"lock {connector}: timeout ({timeout} s) must not be shorter than the pulse ({pulse} s)")
        self.connector = connector
        self.name = f"lock {connector}"
        self.lock_pin = lock_pin
        self.unlock_pin = unlock_pin
        self.pulse = pulse
        self.timeout = timeout
        self._factory = factory
        self._lock_out: DigitalOutputDevice | None = None
        self._unlock_out: DigitalOutputDevice | None = None
        self._moved = asyncio.Event()
        self._busy = asyncio.Lock()
        self._feedback = WatchedInput(self.name, "feedback", factory, feedback_pin, active_high=feedback_active_high,
                                      debounce=feedback_debounce, on_change=lambda _locked: self._moved.set())

    async def open(self) -> None:
        """Claim the pins and unlock; a lock whose feedback will not say unlocked is an error."""
        try:
            self._lock_out = open_output(self.name, "lock output", self._factory, self.lock_pin, True)
            if self.unlock_pin is not None:
                self._unlock_out = open_output(self.name, "unlock output", self._factory, self.unlock_pin, True)
            self._feedback.open()
        except DeviceError:
            await self._release()
            raise
        if not await self.set_locked(False):
            await self._release()
            raise DeviceError(self.name, f"feedback {self._feedback.address} still says locked after unlocking "
                              f"for {self.timeout:g} s: the cable may be trapped")

    async def set_locked(self, locked: bool) -> bool:
        if self._lock_out is None:
            raise DeviceError(self.name, f"GPIO{self.lock_pin}: moved before open()", retry=False)
        async with self._busy:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.timeout
            if self._unlock_out is None:
                self._lock_out.value = locked
            else:
                await self._pulse(self._lock_out if locked else self._unlock_out)
            confirmed = await self._await_feedback(locked, deadline)
        if not confirmed:
            log.warning("lock did not confirm", device=self.name, asked="locked" if locked else "unlocked",
                        feedback=self._feedback.address, timeout=self.timeout)
        return confirmed

    async def close(self) -> None:
        """Unlock (best effort) and release the pins; safe to call twice."""
        if self._lock_out is not None:
            with contextlib.suppress(DeviceError):
                await self.set_locked(False)
        await self._release()

    async def _pulse(self, output: DigitalOutputDevice) -> None:
        for other in (self._lock_out, self._unlock_out):
            if other is not None and other is not output:
                other.off()
        output.on()
        try:
            await asyncio.sleep(self.pulse)
        finally:  # also when cancelled: a motor left powered burns out
            output.off()

    async def _await_feedback(self, locked: bool, deadline: float) -> bool:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(deadline):
                while self._feedback.active != locked:
                    self._moved.clear()
                    await self._moved.wait()
        return self._feedback.active == locked

    async def _release(self) -> None:
        for output in (self._lock_out, self._unlock_out):
            if output is not None:
                with contextlib.suppress(Exception):  # the pin may be gone; closing must go on
                    output.off()
                output.close()
        self._lock_out = self._unlock_out = None
        self._feedback.close()
