"""Turning meter readings into sampled values, and when to take them.

Pure functions: the shell decides when to call them and with which clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from drivers.protocols import MeterReading

from .journal import Sample

PHASES = ("L1", "L2", "L3")
VOLTAGE_PHASES = ("L1-N", "L2-N", "L3-N")


def energy_wh(reading: MeterReading) -> int:
    """The energy register as OCPP wants it: whole watt-hours, never rounded up past the meter."""
    return int(math.floor(reading.energy_wh))


def samples(
    reading: MeterReading, measurands: Iterable[str], offered_a: float, watts_per_amp: float = 3 * 230.0
) -> list[Sample]:
    """The values of ``measurands`` in one reading, per phase where the meter has phases.
    ``offered_a``: what the pilot offers (Current.Offered, per phase); ``watts_per_amp``
    (phases x nominal voltage) turns it into Power.Offered."""
    out: list[Sample] = []
    for measurand in measurands:
        if measurand == "Energy.Active.Import.Register":
            out.append(Sample(measurand, energy_wh(reading), "Wh"))
        elif measurand == "Power.Active.Import":
            out.append(Sample(measurand, round(reading.power_w, 1), "W"))
        elif measurand == "Current.Import":
            out += [Sample(measurand, round(a, 2), "A", p) for a, p in zip(reading.current_a, PHASES)]
        elif measurand == "Voltage":
            out += [Sample(measurand, round(v, 1), "V", p) for v, p in zip(reading.voltage_v, VOLTAGE_PHASES)]
        elif measurand == "Current.Offered":
            out.append(Sample(measurand, round(offered_a, 1), "A"))
        elif measurand == "Power.Offered":
            out.append(Sample(measurand, round(offered_a * watts_per_amp, 1), "W"))
    return out


def next_aligned(now_epoch: float, interval_s: int) -> float:
    """The next clock-aligned boundary after ``now_epoch``.

    OCPP aligns intervals to midnight (UTC here); epoch seconds are whole days past
    midnight, so a multiple of the interval counted from the epoch is also counted
    from midnight whenever the interval divides a day, as meaningful ones do.
    """
    if interval_s <= 0:
        raise ValueError("interval must be positive")
    return (math.floor(now_epoch / interval_s) + 1) * interval_s
