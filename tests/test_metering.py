"""Meter readings as sampled values, and clock alignment."""

from __future__ import annotations

import pytest

from agent import metering
from drivers.protocols import MeterReading

READING = MeterReading(1000.0, 12345.9, 11040.0, (16.0, 16.0, 16.0), (230.1, 229.8, 230.4))


def test_energy_is_whole_watt_hours_never_rounded_up():
    assert metering.energy_wh(READING) == 12345


def test_samples_per_phase_with_units():
    values = metering.samples(READING, ["Energy.Active.Import.Register", "Current.Import", "Voltage", "Current.Offered"], 16)
    assert [(v.measurand, v.phase, v.unit) for v in values] == [
        ("Energy.Active.Import.Register", None, "Wh"),
        ("Current.Import", "L1", "A"), ("Current.Import", "L2", "A"), ("Current.Import", "L3", "A"),
        ("Voltage", "L1-N", "V"), ("Voltage", "L2-N", "V"), ("Voltage", "L3-N", "V"),
        ("Current.Offered", None, "A"),
    ]


def test_what_was_offered_is_reported_in_amperes_and_watts():
    """Current.Offered per phase; Power.Offered over the connector's phases at the nominal voltage."""
    values = metering.samples(READING, ["Current.Offered", "Power.Offered"], 10.0, 3 * 230.0)
    assert [(v.measurand, v.value, v.unit) for v in values] == [
        ("Current.Offered", 10.0, "A"), ("Power.Offered", 6900.0, "W")]
    single = metering.samples(READING, ["Power.Offered"], 16.0, 230.0)
    assert [(v.value, v.unit) for v in single] == [(3680.0, "W")]


def test_single_phase_meter_reports_one_phase():
    single = MeterReading(0.0, 10.0, 3680.0, (16.0,), (230.0,))
    assert [v.phase for v in metering.samples(single, ["Current.Import"], 16)] == ["L1"]


@pytest.mark.parametrize(
    ("now", "interval", "expected"),
    [(0.0, 900, 900.0), (899.999, 900, 900.0), (900.0, 900, 1800.0), (86399.5, 3600, 86400.0), (7.3, 2, 8.0)],
)
def test_next_aligned_boundary(now, interval, expected):
    assert metering.next_aligned(now, interval) == expected


def test_alignment_needs_a_positive_interval():
    with pytest.raises(ValueError):
        metering.next_aligned(10.0, 0)
