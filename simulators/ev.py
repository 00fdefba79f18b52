"""EV and energy-meter physics for one connector, with time passed in.

Pure on purpose: no clock reads, no I/O. Whatever plays the hardware (the bench's
JSON socket today, Modbus and PC/SC simulators later) owns the clock and feeds
``now`` (monotonic seconds) to every change, so energy is always integrated at the
power that was really flowing before the change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from drivers.protocols import MeterReading, PilotState

ERROR_STATES = (PilotState.E, PilotState.F)
VOLTAGE_WOBBLE = 0.005  # +-0.5 %: enough to look like a live grid, stable enough to assert on


@dataclass
class EvConnector:
    """One connector, its meter, and the EV that may be plugged into it."""

    phases: int = 3
    voltage: float = 230.0
    energy_wh: float = 0.0
    plugged: bool = False
    ev_max_current: float = 0.0
    paused: bool = False
    offer_a: float = 0.0
    contactor_closed: bool = False
    pilot_override: PilotState | None = None
    locked: bool = False  # the socket outlet's cable lock
    lock_jammed: bool = False  # a jammed lock stays where it is
    _last: float | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.phases not in (1, 3):
            raise ValueError(f"phases must be 1 or 3, not {self.phases}")
        if self.voltage <= 0:
            raise ValueError(f"voltage must be positive, not {self.voltage}")
        if self.energy_wh < 0:
            raise ValueError(f"initial energy must not be negative, not {self.energy_wh}")

    # -- what the charger sees ------------------------------------------------------

    @property
    def pilot(self) -> PilotState:
        if self.pilot_override is not None:
            return self.pilot_override
        if not self.plugged:
            return PilotState.A
        if self.paused or self.offer_a <= 0:
            return PilotState.B
        return PilotState.C

    @property
    def current_a(self) -> float:
        """Current per phase: the EV takes what is offered, up to its own limit."""
        if not (self.contactor_closed and self.pilot is PilotState.C):
            return 0.0
        return min(self.offer_a, self.ev_max_current)

    @property
    def power_w(self) -> float:
        return self.current_a * self.voltage * self.phases

    def reading(self, timestamp: float) -> MeterReading:
        """The meter's registers; ``timestamp`` is wall-clock time, also driving the wobble."""
        voltages = tuple(
            round(self.voltage * (1 + VOLTAGE_WOBBLE * math.sin(timestamp / 7.0 + 2.1 * n)), 2)
            for n in range(self.phases)
        )
        current = self.current_a
        return MeterReading(
            timestamp=timestamp,
            energy_wh=self.energy_wh,
            power_w=self.power_w,
            current_a=(current,) * self.phases,
            voltage_v=voltages,
        )

    # -- time -----------------------------------------------------------------------

    def advance(self, now: float) -> None:
        """Integrate energy at the present power from the last call up to ``now``."""
        if self._last is not None and now > self._last:
            self.energy_wh += self.power_w * (now - self._last) / 3600.0
        if self._last is None or now > self._last:
            self._last = now

    # -- changes (each integrates first, so the old power counts up to now) -----------

    def plug(self, max_current: float, now: float) -> None:
        if max_current <= 0:
            raise ValueError(f"an EV's max current must be positive, not {max_current}")
        self.advance(now)
        self.plugged = True
        self.ev_max_current = float(max_current)
        self.paused = False

    def unplug(self, now: float) -> None:
        self.advance(now)
        self.plugged = False
        self.ev_max_current = 0.0
        self.paused = False

    def set_paused(self, paused: bool, now: float) -> None:
        if not self.plugged:
            raise ValueError("no EV is plugged in")
        self.advance(now)
        self.paused = paused

    def set_offer(self, current_a: float, now: float) -> None:
        if current_a < 0:
            raise ValueError(f"offered current must not be negative, not {current_a}")
        self.advance(now)
        self.offer_a = float(current_a)

    def set_contactor(self, closed: bool, now: float) -> None:
        self.advance(now)
        self.contactor_closed = closed

    def drive_lock(self, locked: bool) -> bool:
        """Move the cable lock; a jammed lock does not move. Returns the lock's feedback."""
        if not self.lock_jammed:
            self.locked = locked
        return self.locked

    def set_pilot_error(self, state: PilotState | None, now: float) -> None:
        """Force the pilot to E or F (a fault on the line), or ``None`` to clear it."""
        if state is not None and state not in ERROR_STATES:
            raise ValueError(f"pilot error state must be E or F, not {state.value}")
        self.advance(now)
        self.pilot_override = state
