"""Role protocols: the only thing the agent knows about hardware.

Each role is small on purpose, so that a driver for a new device model only has to
answer these few questions. Drivers follow one lifecycle: construct (no I/O) ->
``open()`` (probe the device, raise :class:`DeviceError` naming it on failure) ->
use -> ``close()`` (idempotent). Real and simulated devices differ only in the
transport a driver is given, never in the agent's logic.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Sequence
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


@dataclass(frozen=True, slots=True)
class Fault:
    """A hardware fault a device noticed by itself, not as the answer to a command.

    ``error_code`` is the OCPP 1.6 ChargePointErrorCode the agent reports for it
    (``GroundFailure``, ``PowerSwitchFailure``, ``ReaderFailure``, ``EVCommunicationError``,
    ``OtherError`` ...); drivers name it because only the driver knows what its input
    means. ``connector`` 0 is the whole charger.
    """

    connector: int
    error_code: str
    active: bool  # True: raised; False: cleared
    info: str = ""  # short, for the log and StatusNotification.info (at most 50 characters)
    vendor_error_code: str = ""  # e.g. "EmergencyStop" with error_code "OtherError"


@runtime_checkable
class FaultReporter(Protocol):
    """Implemented by any device that can notice faults on its own (an RCD input, a
    contactor's feedback changing unasked, a reader that disappeared). The agent
    watches every device implementing it and sends each fault down its one safety path
    (contactor open first, then the report)."""

    def faults(self) -> AsyncIterator[Fault]:
        """Yield each fault as it is raised and as it clears; never ends by itself."""
        ...


@runtime_checkable
class SafetyInputs(FaultReporter, Protocol):
    """The charger's protective inputs: RCD/RCM per connector, emergency stop.

    A tripped input is a :class:`Fault` (GroundFailure for an RCD, OtherError with
    vendor code EmergencyStop for the stop button), cleared when the input returns.
    At ``open()`` an input already tripped is reported at once.
    """

    async def open(self) -> None: ...

    async def close(self) -> None: ...


class Signal(enum.Enum):
    """What a connector's indicator tells the driver."""

    OFF = "off"
    AVAILABLE = "available"
    AUTHORIZING = "authorizing"  # card read, waiting for the answer or the cable
    CHARGING = "charging"
    SUSPENDED = "suspended"  # plugged in and authorized, no energy flowing
    REJECTED = "rejected"  # card refused: shown briefly, then back to the previous signal
    UNAVAILABLE = "unavailable"
    FAULT = "fault"
    MOVE_CAR = "move_car"  # the car has stood idle after charging too long: please move it


@runtime_checkable
class Indicator(Protocol):
    """The LEDs (or an RGB LED) per connector showing the driver what is happening."""

    async def open(self) -> None: ...

    async def show(self, connector: int, signal: Signal) -> None: ...

    async def close(self) -> None: ...


@runtime_checkable
class ProximityPilot(Protocol):
    """The proximity contact of a socket outlet: the current rating of the plugged cable."""

    async def cable_rating(self) -> float | None:
        """Amperes the cable is rated for (13, 20, 32, 63 per IEC 61851-1), or None with
        no cable plugged in or no proximity circuit."""
        ...


@runtime_checkable
class ConnectorLock(Protocol):
    """The cable lock of a socket outlet (absent on chargers with a tethered cable)."""

    async def open(self) -> None: ...

    async def set_locked(self, locked: bool) -> bool:
        """Move the lock; True when its feedback confirms the position asked for."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class Display(Protocol):
    """A text display the driver reads at the charger (one per charger; a two-connector
    charger shows both connectors on it). ``columns`` x ``rows`` characters.

    ``show`` replaces the whole screen: one string per row (shorter ones are padded,
    longer ones cut; characters the display cannot draw are replaced by close ones), so
    the caller never needs to know the device's character set or addressing. A display
    that stops answering raises :class:`DeviceError`; the next ``show`` after it answers
    again redraws the screen from scratch (it may have lost power).
    """

    columns: int
    rows: int

    async def open(self) -> None: ...

    async def show(self, lines: Sequence[str]) -> None: ...

    async def close(self) -> None: ...
