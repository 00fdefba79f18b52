"""Composite schedules worked out by hand: what GetCompositeSchedule reports and what the
charger offers the EV, for the situations a backend sets up."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from agent.charging_profiles import (
    Electrical,
    Kind,
    LimitPeriod,
    Period,
    Profile,
    Purpose,
    RateUnit,
    Recurrency,
    Schedule,
    composite_schedule,
)

A, W = RateUnit.AMPS, RateUnit.WATTS
MONDAY = datetime(2026, 3, 2, tzinfo=timezone.utc)  # 00:00 UTC, the start of a week
HOUR = 3_600
THREE_PHASE = Electrical(3, 230.0)
ONE_PHASE = Electrical(1, 230.0)
TWO_CONNECTORS = {1: THREE_PHASE, 2: THREE_PHASE}


def profile(
    id: int,
    purpose: Purpose,
    connector: int,
    periods: list[tuple[int, float]] | list[Period],
    *,
    level: int = 0,
    kind: Kind = Kind.ABSOLUTE,
    start: datetime | None = MONDAY,
    unit: RateUnit = A,
    duration_s: int | None = None,
    recurrency: Recurrency | None = None,
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
    transaction_id: int | None = None,
) -> Profile:
    made = tuple(p if isinstance(p, Period) else Period(p[0], p[1]) for p in periods)
    return Profile(
        id, connector, purpose, level, kind,
        Schedule(unit, made, duration_s, None if kind is Kind.RELATIVE else start),
        recurrency, valid_from, valid_to, transaction_id,
    )


def limits(
    profiles: list[Profile],
    connector: int = 1,
    *,
    start: datetime = MONDAY,
    duration_s: int = HOUR,
    unit: RateUnit = A,
    connectors: dict[int, Electrical] | None = None,
    transactions: dict[int, tuple[int, datetime]] | None = None,
) -> list[tuple[int, int, float, int | None]]:
    result = composite_schedule(
        profiles, connector, start, duration_s, unit,
        connectors=TWO_CONNECTORS if connectors is None else connectors,
        transactions=transactions or {},
    )
    assert (result.connector, result.start, result.duration_s, result.unit) == (connector, start, duration_s, unit)
    return [(p.start_s, p.end_s, p.limit, p.number_phases) for p in result.periods]


def test_a_zero_amp_period_is_a_limit_and_no_profile_is_a_gap() -> None:
    default = profile(1, Purpose.TX_DEFAULT, 1, [(0, 16), (600, 0)], start=MONDAY + timedelta(seconds=300))
    assert limits([default], duration_s=1_200) == [(300, 900, 16, None), (900, 1_200, 0, None)]
    assert limits([]) == []


def test_connector_zero_sums_its_connectors_and_the_charger_maximum_caps_the_sum() -> None:
    everywhere = profile(1, Purpose.TX_DEFAULT, 0, [(0, 16)])
    charger = profile(2, Purpose.CHARGER_MAX, 0, [(0, 20), (600, 40)])
    assert limits([everywhere, charger], 0, duration_s=1_200) == [(0, 600, 20, None), (600, 1_200, 32, None)]
    # in watts each connector converts with its own supply: 16 A x 3 x 230 V + 16 A x 1 x 230 V
    mixed = {1: THREE_PHASE, 2: ONE_PHASE}
    assert limits([everywhere], 0, unit=W, connectors=mixed) == [(0, HOUR, 14_720, None)]


def test_connector_zero_is_the_charger_maximum_alone_while_a_connector_has_no_limit() -> None:
    only_one = profile(1, Purpose.TX_DEFAULT, 1, [(0, 16)])
    charger = profile(2, Purpose.CHARGER_MAX, 0, [(0, 40)], duration_s=600)
    assert limits([only_one, charger], 0) == [(0, 600, 40, None)]
    assert limits([only_one], 0) == []


def test_connector_zeros_own_caps_convert_with_the_supply_its_connectors_share() -> None:
    charger = profile(1, Purpose.CHARGER_MAX, 0, [(0, 32)])
    single = {1: ONE_PHASE, 2: ONE_PHASE}
    assert limits([charger], 0, unit=W, connectors=single) == [(0, HOUR, 7_360, None)]
    assert limits([charger], 0, unit=W, connectors={0: THREE_PHASE, **single}) == [(0, HOUR, 22_080, None)]


def test_a_connectors_limit_is_capped_by_the_charger_maximum_and_external_constraints() -> None:
    default = profile(1, Purpose.TX_DEFAULT, 1, [(0, 32)])
    charger = profile(2, Purpose.CHARGER_MAX, 0, [(0, 24)], duration_s=600)
    external = profile(3, Purpose.EXTERNAL, 1, [Period(0, 10, 1)], start=MONDAY + timedelta(seconds=1_200), duration_s=600)
    assert limits([default, charger, external]) == [
        (0, 600, 24, None), (600, 1_200, 32, None), (1_200, 1_800, 10, 1), (1_800, HOUR, 32, None)
    ]
    assert limits([default, charger, external], 2) == [(0, 600, 24, None)], "connector 1's cap is not connector 2's"
    assert limits([charger, external]) == [(0, 600, 24, None), (1_200, 1_800, 10, 1)], "caps alone"


def test_a_tx_profile_overrides_the_default_for_its_own_transaction_only() -> None:
    default = profile(1, Purpose.TX_DEFAULT, 1, [(0, 16)], level=5)
    tx = profile(2, Purpose.TX, 1, [(0, 10)], duration_s=600, transaction_id=7)
    running = {1: (7, MONDAY)}
    assert limits([default, tx], transactions=running, duration_s=1_200) == [(0, 600, 10, None), (600, 1_200, 16, None)]
    assert limits([default, tx], transactions={1: (8, MONDAY)}) == [(0, HOUR, 16, None)], "another transaction"
    assert limits([default, tx]) == [(0, HOUR, 16, None)], "no transaction"
    moved = {1: (8, MONDAY), 2: (7, MONDAY)}  # a TX profile follows its transaction's id
    assert limits([default, tx], 2, transactions=moved, duration_s=1_200) == [(0, 600, 10, None)]


def test_the_connectors_own_default_beats_connector_zeros_at_an_equal_level() -> None:
    mine = profile(1, Purpose.TX_DEFAULT, 1, [(0, 10)], level=2)
    everywhere = profile(2, Purpose.TX_DEFAULT, 0, [(0, 20)], level=2)
    assert limits([everywhere, mine]) == [(0, HOUR, 10, None)]
    assert limits([everywhere, mine], 2) == [(0, HOUR, 20, None)]
    higher = profile(3, Purpose.TX_DEFAULT, 0, [(0, 30)], level=3)
    assert limits([everywhere, mine, higher]) == [(0, HOUR, 30, None)], "a higher level on connector 0 wins"


def test_a_higher_level_whose_duration_ended_hands_over_to_the_lower_one() -> None:
    short = profile(1, Purpose.TX_DEFAULT, 1, [(0, 6)], level=3, duration_s=300)
    long = profile(2, Purpose.TX_DEFAULT, 1, [(0, 16)], level=1)
    assert limits([short, long]) == [(0, 300, 6, None), (300, HOUR, 16, None)]


def test_daily_recurrence_runs_over_midnight() -> None:
    evening = MONDAY - timedelta(hours=2)  # Sunday 22:00
    night = profile(
        1, Purpose.TX_DEFAULT, 1, [(0, 10), (4 * HOUR, 32)],
        kind=Kind.RECURRING, recurrency=Recurrency.DAILY, start=evening,
    )
    # from Sunday 23:00: 10 A until 02:00, 32 A until 22:00, 10 A again
    assert limits([night], start=MONDAY - timedelta(hours=1), duration_s=24 * HOUR) == [
        (0, 3 * HOUR, 10, None), (3 * HOUR, 23 * HOUR, 32, None), (23 * HOUR, 24 * HOUR, 10, None)
    ]
    only_nights = profile(
        1, Purpose.TX_DEFAULT, 1, [(0, 10)], duration_s=4 * HOUR,
        kind=Kind.RECURRING, recurrency=Recurrency.DAILY, start=evening,
    )
    assert limits([only_nights], start=MONDAY - timedelta(hours=1), duration_s=24 * HOUR) == [
        (0, 3 * HOUR, 10, None), (23 * HOUR, 24 * HOUR, 10, None)
    ]


def test_weekly_recurrence_runs_over_the_end_of_the_week() -> None:
    week = profile(
        1, Purpose.TX_DEFAULT, 1, [(0, 16), (6 * 24 * HOUR, 8)],  # Sundays 8 A
        kind=Kind.RECURRING, recurrency=Recurrency.WEEKLY, start=MONDAY - timedelta(weeks=3),
    )
    sunday_noon = MONDAY + timedelta(days=6, hours=12)
    assert limits([week], start=sunday_noon, duration_s=24 * HOUR) == [
        (0, 12 * HOUR, 8, None), (12 * HOUR, 24 * HOUR, 16, None)
    ]


def test_a_recurring_profile_does_not_apply_before_its_first_start() -> None:
    later = profile(
        1, Purpose.TX_DEFAULT, 1, [(0, 10)], kind=Kind.RECURRING, recurrency=Recurrency.DAILY,
        start=MONDAY + timedelta(hours=5),
    )
    assert limits([later], duration_s=30 * HOUR) == [(5 * HOUR, 30 * HOUR, 10, None)]


def test_a_relative_profile_counts_from_the_transaction_start_or_else_from_the_request() -> None:
    ramp = profile(1, Purpose.TX_DEFAULT, 1, [(0, 6), (900, 16)], kind=Kind.RELATIVE, duration_s=1_800)
    started = {1: (7, MONDAY - timedelta(seconds=600))}
    assert limits([ramp], transactions=started) == [(0, 300, 6, None), (300, 1_200, 16, None)]
    assert limits([ramp]) == [(0, 900, 6, None), (900, 1_800, 16, None)]
    # connector 2's transaction started later: connector 0's default counts from it there
    everywhere = profile(2, Purpose.TX_DEFAULT, 0, [(0, 6), (900, 16)], kind=Kind.RELATIVE)
    both = {1: (7, MONDAY - timedelta(seconds=600)), 2: (8, MONDAY)}
    assert limits([everywhere], 2, transactions=both) == [(0, 900, 6, None), (900, HOUR, 16, None)]
    assert limits([everywhere], 0, transactions=both) == [
        (0, 300, 12, None), (300, 900, 22, None), (900, HOUR, 32, None)
    ]


def test_amps_and_watts_convert_with_the_phases_in_use() -> None:
    mixed = {1: THREE_PHASE, 2: ONE_PHASE}
    everywhere = profile(1, Purpose.TX_DEFAULT, 0, [(0, 16)])
    assert limits([everywhere], 1, unit=W, connectors=mixed) == [(0, HOUR, 11_040, None)]
    assert limits([everywhere], 2, unit=W, connectors=mixed) == [(0, HOUR, 3_680, None)]
    # The charger does not switch phases: an EV on a three-phase connector may draw on all
    # three whatever a period's numberPhases says, so the connector's phases convert.
    one_phase_period = profile(2, Purpose.TX_DEFAULT, 1, [Period(0, 16, 1)], level=1)
    assert limits([one_phase_period], 1, unit=W, connectors=mixed) == [(0, HOUR, 11_040, 1)]
    one_phase_watts = profile(5, Purpose.TX_DEFAULT, 1, [Period(0, 3_680, 1)], unit=W, level=1)
    assert limits([one_phase_watts], 1, unit=A, connectors=mixed) == [(0, HOUR, pytest.approx(16 / 3), 1)]
    in_watts = profile(3, Purpose.TX_DEFAULT, 1, [(0, 11_040)], unit=W)
    assert limits([in_watts], 1, unit=A, connectors=mixed) == [(0, HOUR, 16, None)]
    # the minimum is taken in one unit: 7 kW on three phases (about 10 A) is below 16 A
    cap = profile(4, Purpose.EXTERNAL, 1, [(0, 6_900)], unit=W)
    assert limits([everywhere, cap], 1, unit=A, connectors=mixed) == [(0, HOUR, 10, None)]


def test_validity_windows_bound_a_profile_and_the_lower_one_fills_in() -> None:
    window = profile(
        1, Purpose.TX_DEFAULT, 1, [(0, 8)], level=2,
        valid_from=MONDAY + timedelta(seconds=600), valid_to=MONDAY + timedelta(seconds=1_200),
    )
    assert limits([window]) == [(600, 1_200, 8, None)]
    always = profile(2, Purpose.TX_DEFAULT, 1, [(0, 16)], level=0)
    assert limits([window, always]) == [(0, 600, 16, None), (600, 1_200, 8, None), (1_200, HOUR, 16, None)]
    expired = profile(3, Purpose.TX_DEFAULT, 1, [(0, 8)], valid_to=MONDAY)
    assert limits([expired]) == []


def test_an_absolute_schedule_counts_from_its_start_even_when_that_was_earlier() -> None:
    steps = profile(1, Purpose.TX_DEFAULT, 1, [(0, 6), (HOUR, 12), (2 * HOUR, 24)], start=MONDAY - timedelta(minutes=90))
    assert limits([steps]) == [(0, 1_800, 12, None), (1_800, HOUR, 24, None)]


def test_a_zero_duration_gives_an_empty_schedule() -> None:
    result = composite_schedule(
        [profile(1, Purpose.TX_DEFAULT, 1, [(0, 16)])], 1, MONDAY, 0, A, connectors=TWO_CONNECTORS, transactions={}
    )
    assert result.duration_s == 0 and result.periods == ()


@pytest.mark.parametrize("connector, duration_s", [(3, HOUR), (-1, HOUR), (1, -1)])
def test_an_unknown_connector_or_a_negative_duration_is_refused(connector: int, duration_s: int) -> None:
    with pytest.raises(ValueError):
        composite_schedule([], connector, MONDAY, duration_s, A, connectors=TWO_CONNECTORS, transactions={})


def test_limit_periods_are_well_formed() -> None:
    with pytest.raises(ValueError):
        LimitPeriod(10, 10, 16.0)
    assert LimitPeriod(0, 1, 0.0).number_phases is None
