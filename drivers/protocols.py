"""Role protocols: the only thing the agent knows about hardware.

Each role is small on purpose, so that a driver for a new device model only has to
answer these few questions. Drivers follow one lifecycle: construct (no I/O) ->
``open()`` (probe the device, raise :class:`DeviceError` naming it on failure) ->
use -> ``close()`` (idempotent). Real and simulated devices differ only in the
transport a driver is given, never in the agent's logic.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


class DriverError(Exception):
    """Root of every driver failure."""


class DeviceError(DriverError):
    """A device did not answer or answered nonsense.

    ``retry`` tells the caller whether trying again later can help (a timeout, a bus
    that was busy) or not (wrong model, wrong configuration).
    """

    def __init__(self, device: str, message: str, *, retry: bool = True) -> None:
        super().__init__(f"{device}: {message}")
        self.device = device
        self.retry = retry


class PilotState(enum.Enum):
    """IEC 61851-1 control pilot states as read on the pilot line."""

    A = "A"  # +12 V: no EV connected
    B = "B"  # +9 V: EV connected, not asking for energy
    C = "C"  # +6 V: EV asks for energy
    D = "D"  # +3 V: EV asks for energy and needs ventilation
    E = "E"  # 0 V: pilot shorted / EVSE not powered (error)
    F = "F"  # -12 V: EVSE not available, or a diode fault (error)

    @property
    def plugged(self) -> bool:
        return self in (PilotState.B, PilotState.C, PilotState.D)

    @property
    def wants_power(self) -> bool:
        return self in (PilotState.C, PilotState.D)


@dataclass(frozen=True, slots=True)
class MeterReading:
    """One complete reading of an energy meter.

    ``timestamp`` is the wall-clock time (seconds since the epoch) the reading was
    taken, so a stale reading can always be told from a fresh one.
    """

    timestamp: float
    energy_wh: float
    power_w: float
    current_a: tuple[float, ...]
    voltage_v: tuple[float, ...]


@runtime_checkable
class EnergyMeter(Protocol):
    """A meter measuring the energy delivered through one connector."""

    async def open(self) -> None: ...

    async def read(self) -> MeterReading:
        """Read the meter now; raise :class:`DeviceError` when it does not answer."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class CardReader(Protocol):
    """The charger's identification reader (one per charger)."""

    async def open(self) -> None: ...

    def cards(self) -> AsyncIterator[str]:
        """Yield each card UID once per tap, formatted as the backend expects."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class Pilot(Protocol):
    """The control pilot of one connector: reads the EV's state, offers a current."""

    async def open(self) -> None: ...

    def states(self) -> AsyncIterator[PilotState]:
        """Yield the current state first, then each change."""
        ...

    async def offer(self, current_a: float) -> None:
        """Offer ``current_a`` amperes by PWM; 0 means no PWM (constant +12 V)."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class Contactor(Protocol):
    """The power switch of one connector. Must start open."""

    async def open(self) -> None: ...

    async def switch(self, closed: bool) -> None:
        """Drive the contactor; raise :class:`DeviceError` if the feedback disagrees."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class ConnectorLock(Protocol):
    """The cable lock of a socket outlet (absent on chargers with a tethered cable)."""

    async def open(self) -> None: ...

    async def set_locked(self, locked: bool) -> bool:
        """Move the lock; True when its feedback confirms the position asked for."""
        ...

    async def close(self) -> None: ...
