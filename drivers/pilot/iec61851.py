"""IEC 61851-1 control pilot and proximity pilot arithmetic: pure, no I/O.

Kept apart from the driver so that the tables can be read and tested on their own,
and so that simulators and benches decode an offer with the very same numbers.

The standard (IEC 61851-1:2017, identical to EN IEC 61851-1:2019; Annex A "Control
pilot function through a control pilot circuit using PWM modulation and a control
pilot wire", Annex B "Proximity detection and cable current coding") is not public.
Every number below was checked against published secondary sources that reproduce
its tables; each entry names them.

* Table A.7, duty cycle provided by the EVSE: ``I / 0.6`` % for 6 A to 51 A,
  ``I / 2.5 + 64`` % above 51 A up to 80 A; below 6 A there is no valid offer.
  Sources: Tinkerforge evse-v2-bricklet ``software/src/iec61851.c``
  (https://github.com/Tinkerforge/evse-v2-bricklet); OpenEVSE assembly guide
  ("6 to 51A: duty cycle = amps / 0.6; 51-80A: amps = (duty cycle - 64) * 2.5",
  https://openevse.dozuki.com/Guide/diff/step/12/87).
* Table A.8, current the EV may draw for a duty cycle d: 8 % <= d < 10 %: 6 A;
  10 % <= d <= 85 %: ``d * 0.6``; 85 % < d <= 96 %: ``(d - 64) * 2.5``;
  96 % < d <= 97 %: 80 A; anything else: no charging. That is d < 3 %, the
  digital-communication window (3-7 %, nominally 5 %), 7-8 %, over 97 %, and
  100 % (no PWM: states B1, C1, D1).
  Sources: Fluke FEV300 manual, p. 11, with its error-state list
  (https://www.easymanua.ls/fluke/fev300/manual?p=12); Siemens TM ECC 2xPWM ST
  manual A5E42681298B-AA, Table 3-1
  (https://manualshive.com/en/manual/siemens/6fe1242-6tm10-0bb1/377039?page=23);
  Gossen Metrawatt M525B manual, for the 3-7 % window
  (https://manualshive.com/en/manual/gossen-metrawatt/m525b/2247291?page=12).
  The sources differ only in which segment owns exactly 85 % and 96 % (Siemens
  gives both to the upper one). Both segments give the same current there
  (51 A and 80 A), so nothing depends on it. Fluke names 5 % +-0.5 % as the
  digital window and Gossen 3-7 %; neither allows PWM charging anywhere in 3-8 %.
* The system-states table of Annex A gives the nominal pilot levels: +12 V
  state A, +9 V B, +6 V C, +3 V D, 0 V E and -12 V F. Table A.4 (system states
  detected by the EVSE) gives the ranges: A 11-13 V, B 8-10 V, C 5-7 V,
  D 2-4 V, E -1..+1 V, F -13..-11 V. The gaps between them (10-11 V, 7-8 V,
  4-5 V, 1-2 V) are transition zones; chargebyte keeps the previous state there.
  Sources: chargebyte everest-chargebyte
  ``modules/CbTarragonDriver/tarragon/CbTarragonCP.cpp``, which follows "IEC
  61851-1 Table A.4 System states detected by the charging station"
  (https://github.com/chargebyte/everest-chargebyte); Siemens manual above,
  Table 3-2, "tolerance +-1 V"
  (https://manualshive.com/en/manual/siemens/6fe1242-6tm10-0bb1/377039?page=24).
  The two chargebyte drivers disagree on 1-2 V. The Tarragon one treats it as a
  D/E transition zone and the ChargeSOM one as E. Here it belongs to no state,
  which never lets a doubtful level pass for D.
* The negative half-wave while PWM runs (the diode check) must reach the
  generator's -12 V. The band is the F range of Table A.4, -13..-11 V.
  Sources: chargebyte, above; OpenEVSE's theory of operation ("the negative
  portion of the signal not being all the way at -12v" is a missing diode,
  https://openev.freshdesk.com/support/solutions/articles/6000052070-theory-of-operation).
* Table B.2 / IEC 62196-2: the resistor Rc between PP and PE in the cable's plug is
  1.5 kOhm for 13 A, 680 Ohm for 20 A, 220 Ohm for 32 A and 100 Ohm for 63 A
  (three-phase) or 70 A (single-phase). Each is nominal, +-3 %.
  The EVSE reads Rc by ranges: under 75 Ohm is an error; 75-150 Ohm is 63 (70) A;
  150-330 Ohm is 32 A; 330-1000 Ohm is 20 A; 1000-2200 Ohm is 13 A; over
  2200 Ohm is no cable (0 A).
  Sources: Siemens manual above, Table 3-3 (Rc values and +-3 %); Phoenix Contact
  EV Charge Control Basic manual 106377_en_04, Table 5-1 "Coding of the
  permissible current for the resistance value according to IEC 61851-1"
  (https://easymanua.ls/phoenix-contact/ev-charge-control-basic/manual?p=23); the
  same table in the Phoenix Contact EV-PLCC-AC1-DC1 manual 107068_en_06; and
  Tinkerforge evse-v2-bricklet ``software/src/iec61851.c`` (comment "75..150 Ohm
  => 63A", which its code then applies to everything under 150 Ohm, a short
  included). The bands below stay inside these ranges. See
  :data:`PROXIMITY_BANDS`.
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


#: Positive pilot level per state: the detection ranges of Table A.4, the nominal
#: level +-1 V. Levels in the gaps between bands (e.g. 10.5 V) belong to no state:
#: :func:`classify` says so with None and the driver never guesses a state from them.
PILOT_BANDS: dict[PilotState, Band] = {
    PilotState.A: Band(11.0, 13.0),
    PilotState.B: Band(8.0, 10.0),
    PilotState.C: Band(5.0, 7.0),
    PilotState.D: Band(2.0, 4.0),
    PilotState.E: Band(-1.0, 1.0),
    PilotState.F: Band(-13.0, -11.0),
}
#: The negative half-wave while PWM runs: the EV's diode blocks it, so the line
#: reaches the generator's -12 V, within the F range of Table A.4 (-13..-11 V).
#: Anything else means the diode is missing or shorted: the EV's resistor then
#: loads the negative half too (about -8.8 V in state B).
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


#: Rc per cable rating (Table B.2), with the detection band this driver uses. Each band
#: is the nominal value -30 % / +40 %, cut to the published range of its rating (see
#: the module docstring). That leaves room for the +-3 % resistor, contact
#: resistance and the measurement's error. Each band is also never wider than the
#: published range: a lower edge below it would read a leaky or shorted PP as a
#: rating the cable may not have. The gaps between neighbours are kept so that a
#: damaged resistor is never taken for the next rating. Such a reading is an error,
#: not a guess.
PROXIMITY_BANDS: dict[float, Band] = {
    13.0: Band(1050.0, 2100.0),  # 1.5 kOhm; published 1000-2200 Ohm
    20.0: Band(476.0, 952.0),  # 680 Ohm; published 330-1000 Ohm
    32.0: Band(154.0, 308.0),  # 220 Ohm; published 150-330 Ohm
    # 100 Ohm (63 A three-phase, 70 A single-phase); published 75-150 Ohm. Under
    # 75 Ohm the published table says error: the band stops there, not at -30 %.
    63.0: Band(75.0, 140.0),
}
#: At or above this resistance PP is open: no plug in the socket. The published
#: table reads anything over 2200 Ohm as "no cable" (0 A). This driver reports
#: 2100-5000 Ohm as an error instead. Neither lets the EV charge, but a PP contact
#: reading between a plug and no plug is worth a technician's look.
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
