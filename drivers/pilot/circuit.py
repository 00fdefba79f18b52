"""Transfer functions of the measurement front end described in docs/hardware.md.

The driver uses them to turn ADC pin volts back into pilot volts and PP ohms; the
simulator uses the inverse ones to turn an EV into pin volts. Keeping both directions
here means a changed component value is changed for both at once.
"""

from __future__ import annotations

#: Pilot volts per ADC volt: the 390 kOhm / 100 kOhm attenuator ahead of both peak
#: detectors (the negative one through an inverting stage of the same ratio).
CP_DIVIDER = 4.9
#: The op-amps run from the ADS1115's 3.3 V: a pin never leaves 0 V .. 3.3 V.
RAIL_V = 3.3
#: Proximity pilot: pull-up from PP to the 3.3 V rail; Rc in the plug pulls PP to PE.
PP_PULLUP_OHM = 1000.0
PP_SUPPLY_V = 3.3


def pilot_volts(pin_v: float, divider: float = CP_DIVIDER) -> float:
    """Positive peak of the pilot from the positive detector's pin voltage."""
    return pin_v * divider


def negative_volts(pin_v: float, divider: float = CP_DIVIDER) -> float:
    """Negative peak of the pilot from the (inverted) negative detector's pin voltage."""
    return -pin_v * divider


def detector_pins(high_v: float | None, low_v: float | None, divider: float = CP_DIVIDER) -> tuple[float, float]:
    """Pin voltages (positive detector, negative detector) for a pilot whose waveform
    reaches ``high_v`` and ``low_v``; None where that half-wave does not exist
    (constant levels). Each detector only sees its own polarity and is clipped by
    the op-amp rails."""
    positive = max(high_v, 0.0) / divider if high_v is not None else 0.0
    negative = max(-low_v, 0.0) / divider if low_v is not None else 0.0
    return min(positive, RAIL_V), min(negative, RAIL_V)


def proximity_ohms(pin_v: float, pullup_ohm: float = PP_PULLUP_OHM, supply_v: float = PP_SUPPLY_V) -> float | None:
    """Resistance from PP to PE, or None when PP reads the supply (open circuit)."""
    if pin_v >= supply_v:
        return None
    return pullup_ohm * max(pin_v, 0.0) / (supply_v - pin_v)


def proximity_pin(ohms: float | None, pullup_ohm: float = PP_PULLUP_OHM, supply_v: float = PP_SUPPLY_V) -> float:
    """PP pin voltage for a resistance to PE (None: nothing plugged in)."""
    if ohms is None:
        return supply_v
    return supply_v * ohms / (ohms + pullup_ohm)
