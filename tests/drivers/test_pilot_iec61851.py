"""IEC 61851-1 tables: offered duty, the EV's reading of it, pilot levels, cable ratings."""

from __future__ import annotations

import math

import pytest

from drivers.pilot import circuit, iec61851
from drivers.protocols import PilotState


@pytest.mark.parametrize(
    ("current_a", "percent"),
    [(6, 10.0), (10, 100 / 6), (16, 80 / 3), (32, 160 / 3), (51, 85.0), (51.5, 84.6), (63, 89.2), (80, 96.0)],
)
def test_duty_for_current_follows_both_segments(current_a: float, percent: float) -> None:
    assert iec61851.duty_for_current(current_a) == pytest.approx(percent)


@pytest.mark.parametrize("current_a", [0, 5.99, -6, 80.01, 81, math.nan, math.inf])
def test_duty_for_current_refuses_what_iec_61851_cannot_offer(current_a: float) -> None:
    with pytest.raises(ValueError, match=r"cannot be offered: IEC 61851-1 PWM offers 6 A to 80 A"):
        iec61851.duty_for_current(current_a)


@pytest.mark.parametrize("current_a", [6, 13, 16, 20, 32, 40, 50, 53, 63, 70, 80])
def test_an_ev_reads_back_the_current_offered(current_a: float) -> None:
    assert iec61851.current_for_duty(iec61851.duty_for_current(current_a)) == pytest.approx(current_a)


@pytest.mark.parametrize(
    ("percent", "current_a"),
    [
        (0, None), (2.9, None), (3, None), (5, None), (7, None), (7.5, None), (7.99, None),  # < 3 %, 3-7 %, 7-8 %
        (8, 6.0), (9.9, 6.0), (9.999, 6.0), (10, 6.0), (50, 30.0), (85, 51.0), (85.2, 53.0), (96, 80.0),
        (96.5, 80.0), (97, 80.0),
        (97.01, None), (97.1, None), (99, None), (100, None),  # over 97 %: no charging; 100 % is no PWM at all
    ],
)
def test_current_for_duty_is_table_a8(percent: float, current_a: float | None) -> None:
    result = iec61851.current_for_duty(percent)
    assert result == (None if current_a is None else pytest.approx(current_a))


@pytest.mark.parametrize(
    ("positive", "state"),
    [
        (12.0, PilotState.A), (11.0, PilotState.A), (13.0, PilotState.A),
        (9.0, PilotState.B), (8.0, PilotState.B), (10.0, PilotState.B),
        (6.0, PilotState.C), (5.0, PilotState.C), (7.0, PilotState.C),
        (3.0, PilotState.D), (2.0, PilotState.D), (4.0, PilotState.D),
        (0.0, PilotState.E), (-1.0, PilotState.E), (1.0, PilotState.E),
        (-12.0, PilotState.F), (-11.0, PilotState.F), (-13.0, PilotState.F),
        (10.5, None), (7.5, None), (4.5, None), (1.5, None), (-5.0, None),  # Table A.4's transition zones
        (13.01, None), (14.0, None), (-10.9, None), (-13.1, None),  # outside every range
    ],
)
def test_positive_level_bands(positive: float, state: PilotState | None) -> None:
    assert iec61851.classify(positive) is state


@pytest.mark.parametrize("state", [PilotState.B, PilotState.C, PilotState.D])
def test_missing_negative_half_wave_under_pwm_is_a_diode_fault(state: PilotState) -> None:
    nominal = {PilotState.B: 9.0, PilotState.C: 6.0, PilotState.D: 3.0}[state]
    assert iec61851.classify(nominal, -12.0, pwm=True) is state
    assert iec61851.classify(nominal, 0.0, pwm=True) is PilotState.F  # no negative half-wave
    assert iec61851.classify(nominal, -8.8, pwm=True) is PilotState.F  # shorted diode: the load pulls it up
    # Without PWM there is no negative half-wave to check.
    assert iec61851.classify(nominal, 0.0, pwm=False) is state
    assert iec61851.classify(nominal, None, pwm=True) is state


@pytest.mark.parametrize(("negative", "state"), [(-11.0, PilotState.B), (-13.0, PilotState.B),
                                               (-10.9, PilotState.F), (-13.1, PilotState.F)])
def test_diode_check_accepts_the_f_range_of_table_a4_only(negative: float, state: PilotState) -> None:
    assert iec61851.classify(9.0, negative, pwm=True) is state


def test_zero_volts_is_e_unless_the_line_sits_at_minus_12_volts() -> None:
    assert iec61851.classify(0.0, 0.0, pwm=True) is PilotState.E
    assert iec61851.classify(0.0, None) is PilotState.E
    assert iec61851.classify(0.0, -12.0, pwm=False) is PilotState.F
    assert iec61851.classify(12.0, -12.0, pwm=True) is PilotState.A  # no EV: no diode to check


@pytest.mark.parametrize(
    ("ohms", "amperes"),
    [
        (1500, 13.0), (1500 * 0.97, 13.0), (1500 * 1.03, 13.0), (680, 20.0), (220, 32.0), (100, 63.0),
        (100 * 0.97, 63.0), (220 * 1.03, 32.0), (75, 63.0), (None, None), (math.inf, None), (5000, None),
        (1e6, None),
    ],
)
def test_cable_rating(ohms: float | None, amperes: float | None) -> None:
    assert iec61851.cable_rating(ohms) == amperes


@pytest.mark.parametrize("ohms", [0, 30, 70, 74.4, 145, 400, 1000, 3000])
def test_cable_rating_refuses_a_resistance_in_no_band(ohms: float) -> None:
    # Under 75 Ohm the published coding table says error, not 63 A: a leaky or shorted
    # PP must never read as the highest rating.
    with pytest.raises(ValueError, match=rf"proximity resistance {ohms:.0f} Ohm fits no cable rating"):
        iec61851.cable_rating(ohms)


#: Ranges an EVSE reads Rc by (IEC 61851-1 Annex B, as the Phoenix Contact EV Charge
#: Control Basic manual's Table 5-1 reproduces it): amperes -> (lowest, highest) ohms.
PUBLISHED_RC_RANGES = {13.0: (1000.0, 2200.0), 20.0: (330.0, 1000.0), 32.0: (150.0, 330.0), 63.0: (75.0, 150.0)}


@pytest.mark.parametrize("amperes", sorted(PUBLISHED_RC_RANGES))
def test_no_proximity_band_reaches_beyond_the_published_range(amperes: float) -> None:
    low, high = PUBLISHED_RC_RANGES[amperes]
    band = iec61851.PROXIMITY_BANDS[amperes]
    assert low <= band.low and band.high <= high
    # Just outside the band on either side the rating is refused, never rounded to a neighbour.
    for ohms in (band.low * 0.999, band.high * 1.001):
        with pytest.raises(ValueError, match="fits no cable rating"):
            iec61851.cable_rating(ohms)


@pytest.mark.parametrize("ohms", [100.0, 220.0, 680.0, 1500.0, None])
def test_proximity_circuit_round_trip(ohms: float | None) -> None:
    pin = circuit.proximity_pin(ohms)
    assert 0 <= pin <= circuit.PP_SUPPLY_V
    back = circuit.proximity_ohms(pin)
    assert back == (None if ohms is None else pytest.approx(ohms))
