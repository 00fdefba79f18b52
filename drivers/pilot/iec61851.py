"""IEC 61851-1 control pilot and proximity pilot arithmetic: pure, no I/O.

Kept apart from the driver so that the tables can be read and tested on their own,
and so that simulators and benches decode an offer with the very same numbers.

References (IEC 61851-1:2017, Annex A "Control pilot function through a control
pilot circuit using PWM modulation and a control pilot wire", and Annex B
"Proximity detection and cable current coding"):

* Table A.7, duty cycle provided by the EVSE: ``I / 0.6`` % for 6 A to 51 A,
  ``I / 2.5 + 64`` % above 51 A up to 80 A; below 6 A there is no valid offer.
* Table A.8, current the EV may draw for a duty cycle d: 8 % <= d < 10 %: 6 A;
  10 % <= d <= 85 %: ``d * 0.6``; 85 % < d <= 96 %: ``(d - 64) * 2.5``;
  96 % < d <= 97 %: 80 A; anything else (0 %, 3-7 % digital communication,
  7-8 %, over 97 %, 100 % = no PWM): no charging.
* the system states table of Annex A (Table A.3 in the 2017 edition), pilot
  voltages: +12 V state A, +9 V B, +6 V C, +3 V D, 0 V E and -12 V F, each
  within +-1 V.
* Table B.2 / IEC 62196-2, resistor Rc between PP and PE in the cable's plug:
  1.5 kOhm 13 A, 680 Ohm 20 A, 220 Ohm 32 A, 100 Ohm 63 A (nominal, +-3 %).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from drivers.protocols import PilotState

MIN_CURRENT_A = 6.0
MAX_CURRENT_A = 80.0
#: Above this current the second segment of Table A.7 applies.
KNEE_CURRENT_A = 51.0


def duty_for_current(current_a: float) -> float:
    """PWM duty cycle in percent that offers ``current_a`` amperes (Table A.7).

    Out-of-range offers are refused, never clamped: rounding 5 A up to 6 A would let
    the EV draw more than was meant, and 81 A down to 80 A would hide a wrong setting.
    """
    if not math.isfinite(current_a) or not MIN_CURRENT_A <= current_a <= MAX_CURRENT_A:
        raise ValueError(
            f"{current_a} A cannot be offered: IEC 61851-1 PWM offers {MIN_CURRENT_A:g} A to "
            f"{MAX_CURRENT_A:g} A (0 A means no PWM)"
        )
    if current_a <= KNEE_CURRENT_A:
        return current_a / 0.6
    return current_a / 2.5 + 64.0


def current_for_duty(percent: float) -> float | None:
    """Amperes an EV may draw when it reads ``percent`` duty (Table A.8), or None when
    the duty cycle allows no charging.

    Note the tables are not exact inverses between 51 A and 52.5 A: the EVSE encodes
    them as 84.4-85 %, which an EV reads back with the lower segment (50.6-51 A).
    """
    if not math.isfinite(percent):
        raise ValueError(f"duty cycle {percent} % is not a number")
    if 8.0 <= percent < 10.0:
        return 6.0
    if 10.0 <= percent <= 85.0:
        return percent * 0.6
    if 85.0 < percent <= 96.0:
        return (percent - 64.0) * 2.5
    if 96.0 < percent <= 97.0:
        return 80.0
    return None


@dataclass(frozen=True, slots=True)
class Band:
    """A closed interval ``[low, high]`` of a measured quantity."""

    low: float
    high: float

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high


#: Positive pilot level per state: the nominal level +-1 V (Annex A). Levels in the
#: gaps between bands (e.g. 10.5 V) belong to no state: :func:`classify` says so
#: with None and the driver never guesses a state from them.
PILOT_BANDS: dict[PilotState, Band] = {
    PilotState.A: Band(11.0, 13.0),
    PilotState.B: Band(8.0, 10.0),
    PilotState.C: Band(5.0, 7.0),
    PilotState.D: Band(2.0, 4.0),
    PilotState.E: Band(-1.0, 1.0),
    PilotState.F: Band(-13.0, -11.0),
}
#: The negative half-wave while PWM runs: the EV's diode blocks it, so the line
#: reaches the generator's -12 V (+-1 V). Anything else means the diode is missing
#: or shorted (the EV's resistor then loads the negative half too).
NEGATIVE_BAND = Band(-13.0, -11.0)


def classify(positive_v: float, negative_v: float | None = None, *, pwm: bool = False) -> PilotState | None:
    """The pilot state for the measured positive and negative peak voltages.

    ``negative_v`` is None without a negative peak detector: no diode check is then
    possible, and a line held at -12 V reads as E. ``pwm`` tells whether the EVSE is
    oscillating (a duty cycle strictly between 0 and 100 %): only then does a
    negative half-wave exist that the diode check can look at.

    * a positive level in no band: None (indeterminate; see :data:`PILOT_BANDS`);
    * no positive half-wave (0 V) while the line sits at -12 V: F (the generator is
      held low: EVSE not available);
    * B, C or D with PWM running and the negative peak not at -12 V: F, the diode
      fault of IEC 61851-1 Annex A (a missing negative half-wave).
    """
    if negative_v is not None and positive_v in PILOT_BANDS[PilotState.E] and negative_v in NEGATIVE_BAND:
        return PilotState.F
    state = next((s for s, band in PILOT_BANDS.items() if positive_v in band), None)
    if state is None:
        return None
    if pwm and negative_v is not None and state.plugged and negative_v not in NEGATIVE_BAND:
        return PilotState.F
    return state


#: Rc per cable rating (Table B.2), with the detection band this driver uses: the
#: nominal value -30 % / +40 %, which holds the +-3 % resistor, contact resistance
#: and the measurement's error, and leaves a gap between neighbours so a damaged
#: resistor is never taken for the next rating.
PROXIMITY_BANDS: dict[float, Band] = {
    13.0: Band(1050.0, 2100.0),  # 1.5 kOhm
    20.0: Band(476.0, 952.0),  # 680 Ohm
    32.0: Band(154.0, 308.0),  # 220 Ohm
    63.0: Band(70.0, 140.0),  # 100 Ohm (63 A three-phase, 70 A single-phase)
}
#: At or above this resistance PP is open: no plug in the socket.
PROXIMITY_OPEN_OHM = 5000.0


def cable_rating(ohms: float | None) -> float | None:
    """Amperes the plugged cable is rated for, or None for an open PP contact.

    ``ohms`` None (or infinite) means open. A resistance in no band (shorted PP, a
    broken or non-standard resistor) raises ValueError naming the value: charging
    with a guessed rating could overload the cable.
    """
    if ohms is None or ohms >= PROXIMITY_OPEN_OHM:
        return None
    for amperes, band in PROXIMITY_BANDS.items():
        if ohms in band:
            return amperes
    bands = ", ".join(f"{a:g} A {b.low:g}-{b.high:g}" for a, b in PROXIMITY_BANDS.items())
    raise ValueError(
        f"proximity resistance {ohms:.0f} Ohm fits no cable rating ({bands} Ohm; "
        f"open from {PROXIMITY_OPEN_OHM:g} Ohm)"
    )
