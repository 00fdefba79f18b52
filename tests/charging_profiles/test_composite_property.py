"""The composite schedule against a brute-force reference, on random but valid profile sets.

``reference.py`` evaluates the contract's rules one second at a time; here Hypothesis draws
chargers (1-3 connectors, 1 or 3 phases, 230 V), running transactions and profiles of every
purpose and kind with boundaries falling inside the horizon, and checks that the periods
``composite_schedule`` returns say, second for second, what the reference says: the same
gaps, the same limits (1e-6 relative), and the deciding period's ``number_phases`` wherever
no tie makes the deciding period ambiguous (on connector 0 it is always None).

Generated sets stay where the contract is unambiguous: a charger's connectors share one
electrical when connector 0 is queried (its own caps' phases are otherwise undefined), caps
on connector 0 are never RELATIVE (no transaction to count from), a TX profile sits on its
transaction's connector, and (connector, purpose, stack level) is unique, as after
SetChargingProfile replaced any earlier profile with the same three.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.charging_profiles.model import (
    Electrical,
    Kind,
    Period,
    Profile,
    Purpose,
    RateUnit,
    Recurrency,
    Schedule,
)
from tests.charging_profiles.reference import (
    DAY_S,
    WEEK_S,
    Limit,
    reference_detail,
    reference_limits,
)

#: A Monday, so whole weeks from it end at a week boundary.
MONDAY = datetime(2026, 3, 2, tzinfo=UTC)
THREE_PHASE = Electrical(3, 230.0)
ONE_PHASE = Electrical(1, 230.0)
STALE_TRANSACTION = 999


def _implementation() -> tuple[Any, Any]:
    from agent.charging_profiles.composite import composite_schedule
    from agent.charging_profiles.model import LimitPeriod

    return composite_schedule, LimitPeriod


# --- strategies -------------------------------------------------------------------------

AMPS = [0.0, 6.0, 10.0, 16.0, 20.0, 32.0]
WATTS = [0.0, 1380.0, 2300.0, 4140.0, 6900.0, 11040.0, 22080.0]


@st.composite
def limits(draw: st.DrawFn, unit: RateUnit) -> float:
    common = AMPS if unit is RateUnit.AMPS else WATTS
    top = 64 if unit is RateUnit.AMPS else 44_000
    return draw(st.one_of(st.sampled_from(common), st.integers(0, top * 10).map(lambda x: x / 10)))


@st.composite
def schedules(draw: st.DrawFn, scale: int, start: datetime | None) -> Schedule:
    unit = draw(st.sampled_from(RateUnit))
    count = draw(st.integers(1, 4))
    starts = [0]
    for _ in range(count - 1):
        starts.append(starts[-1] + draw(st.integers(1, scale)))
    periods = tuple(
        Period(s, draw(limits(unit)), draw(st.sampled_from([None, None, 1, 2, 3]))) for s in starts
    )
    duration = draw(st.one_of(st.none(), st.integers(1, 2 * scale)))
    return Schedule(unit, periods, duration, start)


@st.composite
def scenarios(draw: st.DrawFn, max_duration: int) -> dict[str, Any]:
    """A charger, its transactions, its profiles and one query."""
    n = draw(st.integers(1, 3))
    connector = draw(st.integers(0, n))
    if connector == 0:
        shared = draw(st.sampled_from([ONE_PHASE, THREE_PHASE]))
        connectors = {c: shared for c in range(1, n + 1)}
    else:
        connectors = {c: draw(st.sampled_from([ONE_PHASE, THREE_PHASE])) for c in range(1, n + 1)}

    duration = draw(
        st.one_of(
            st.integers(0, max_duration),
            st.integers(max(0, max_duration - 120), max_duration),
        )
    )
    scale = max(60, duration)
    # The horizon starts on some day of two weeks, often just before midnight.
    day = draw(st.integers(0, 13))
    second = draw(st.one_of(st.integers(0, DAY_S - 1), st.integers(max(0, DAY_S - scale), DAY_S - 1)))
    start = MONDAY + timedelta(days=day, seconds=second)

    def near(span: int = scale) -> datetime:
        """An instant around the horizon, so boundaries fall inside it."""
        return start + timedelta(seconds=draw(st.integers(-span, duration + span)))

    transactions: dict[int, tuple[int, datetime]] = {}
    for c in connectors:
        if draw(st.booleans()):
            transactions[c] = (100 + c, start - timedelta(seconds=draw(st.integers(0, 2 * scale))))

    profiles: list[Profile] = []
    taken: set[tuple[int, Purpose, int]] = set()
    for profile_id in range(1, draw(st.integers(0, 7)) + 1):
        purpose = draw(st.sampled_from(Purpose))
        if purpose is Purpose.CHARGER_MAX:
            on = 0
        elif purpose is Purpose.TX:
            on = draw(st.integers(1, n))
        else:
            on = draw(st.integers(0, n))
        whole_charger_cap = on == 0 and purpose is not Purpose.TX_DEFAULT
        kinds = [Kind.ABSOLUTE, Kind.RECURRING] if whole_charger_cap else list(Kind)
        kind = draw(st.sampled_from(kinds))
        recurrency = None
        if kind is Kind.ABSOLUTE:
            schedule_start: datetime | None = near()
        elif kind is Kind.RECURRING:
            recurrency = draw(st.sampled_from(Recurrency))
            every = DAY_S if recurrency is Recurrency.DAILY else WEEK_S
            # A recurrence boundary near the horizon, some whole periods after the first
            # start, which is sometimes a midnight or the week's start (Monday 00:00).
            anchor = draw(st.one_of(st.just(None), st.just("midnight")))
            if anchor == "midnight":
                schedule_start = datetime.combine(near().date(), datetime.min.time(), UTC)
                if recurrency is Recurrency.WEEKLY:
                    schedule_start -= timedelta(days=schedule_start.weekday())
            else:
                schedule_start = near()
            schedule_start -= timedelta(seconds=every * draw(st.integers(0, 3)))
        else:
            schedule_start = None
        schedule = draw(schedules(scale, schedule_start))
        valid_from = near() if draw(st.booleans()) else None
        valid_to = near() if draw(st.booleans()) else None
        if valid_from is not None and valid_to is not None and valid_to <= valid_from:
            valid_from, valid_to = valid_to, valid_from + timedelta(seconds=1)
        transaction_id = None
        if purpose is Purpose.TX:
            running = transactions.get(on)
            stale = running is None or draw(st.integers(0, 4)) == 0
            transaction_id = STALE_TRANSACTION if stale else running[0]
        level = draw(st.integers(0, 3))
        if (on, purpose, level) in taken:
            continue
        taken.add((on, purpose, level))
        profiles.append(
            Profile(
                profile_id, on, purpose, level, kind, schedule, recurrency,
                valid_from, valid_to, transaction_id,
            )
        )
    if draw(st.booleans()) and (0, Purpose.TX_DEFAULT, 0) not in taken:
        # A charger-wide default from before the horizon, so that often every connector has
        # a TX-level limit and connector 0 sums them (rule 6) rather than showing its caps.
        since = start - timedelta(seconds=draw(st.integers(0, scale)))
        base_unit = draw(st.sampled_from(RateUnit))
        schedule = Schedule(base_unit, (Period(0, draw(limits(base_unit))),), None, since)
        profiles.append(Profile(99, 0, Purpose.TX_DEFAULT, 0, Kind.ABSOLUTE, schedule))
    unit = draw(st.sampled_from(RateUnit))
    return dict(
        profiles=profiles, connector=connector, start=start, duration_s=duration, unit=unit,
        connectors=connectors, transactions=transactions,
    )


# --- comparing --------------------------------------------------------------------------


def _check_structure(result: Any, scenario: dict[str, Any], limit_period: type) -> None:
    assert result.connector == scenario["connector"]
    assert result.start == scenario["start"]
    assert result.duration_s == scenario["duration_s"]
    assert result.unit is scenario["unit"]
    previous_end = 0
    for period in result.periods:
        assert isinstance(period, limit_period)
        assert 0 <= period.start_s < period.end_s <= scenario["duration_s"], period
        assert period.start_s >= previous_end, f"periods overlap or are unsorted: {result.periods}"
        previous_end = period.end_s
    if scenario["duration_s"] == 0:
        assert result.periods == ()


def _value_at(periods: tuple[Any, ...], starts: list[int], s: int) -> Any | None:
    i = bisect.bisect_right(starts, s) - 1
    if i >= 0 and s < periods[i].end_s:
        return periods[i]
    return None


def _compare(result: Any, expected: dict[int, tuple[Limit | None, bool]], connector: int) -> None:
    periods = result.periods
    starts = [p.start_s for p in periods]
    for s in sorted(expected):
        want, ambiguous = expected[s]
        got = _value_at(periods, starts, s)
        where = f"at second {s}: composite {got}, reference {want}"
        if want is None:
            assert got is None, where
            continue
        assert got is not None, where
        assert math.isclose(got.limit, want.value, rel_tol=1e-6, abs_tol=1e-9), where
        if connector == 0:
            assert got.number_phases is None, where
        elif not ambiguous:
            assert got.number_phases == want.number_phases, where


def _breakpoints(scenario: dict[str, Any]) -> set[int]:
    """Every second at which the reference may change (a superset): validity bounds and
    each period's start and each schedule's end, from every base the schedule could count
    from. Between two of them, every rule's inputs are constant."""
    start: datetime = scenario["start"]
    duration: int = scenario["duration_s"]
    instants: list[datetime] = []
    for profile in scenario["profiles"]:
        instants += [t for t in (profile.valid_from, profile.valid_to) if t is not None]
        schedule = profile.schedule
        if profile.kind is Kind.ABSOLUTE:
            bases = [schedule.start]
        elif profile.kind is Kind.RECURRING:
            every = DAY_S if profile.recurrency is Recurrency.DAILY else WEEK_S
            first = (start - schedule.start) // timedelta(seconds=every)
            last = (start + timedelta(seconds=duration) - schedule.start) // timedelta(seconds=every)
            bases = [
                schedule.start + timedelta(seconds=every * k)
                for k in range(max(0, first - 1), last + 2)
            ]
        else:
            bases = [start] + [t for _, t in scenario["transactions"].values()]
        for base in bases:
            offsets = [p.start_s for p in schedule.periods]
            if schedule.duration_s is not None:
                offsets.append(schedule.duration_s)
            instants += [base + timedelta(seconds=o) for o in offsets]
    seconds = {(t - start) // timedelta(seconds=1) for t in instants}
    return {s for s in seconds if 0 <= s < duration} | {0}


def _run(scenario: dict[str, Any]) -> Any:
    composite_schedule, limit_period = _implementation()
    result = composite_schedule(
        scenario["profiles"], scenario["connector"], scenario["start"], scenario["duration_s"],
        scenario["unit"], connectors=scenario["connectors"], transactions=scenario["transactions"],
    )
    _check_structure(result, scenario, limit_period)
    return result


def _reference(
    scenario: dict[str, Any], seconds: set[int] | None = None,
) -> dict[int, tuple[Limit | None, bool]]:
    return reference_detail(
        scenario["profiles"], scenario["connector"], scenario["start"], scenario["duration_s"],
        scenario["unit"], connectors=scenario["connectors"], transactions=scenario["transactions"],
        seconds=seconds,
    )


PROPERTY = settings(
    max_examples=300, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@PROPERTY
@given(scenarios(max_duration=400))
def test_composite_equals_reference_every_second(scenario: dict[str, Any]) -> None:
    """Short horizons, every second compared."""
    result = _run(scenario)
    _compare(result, _reference(scenario), scenario["connector"])


@PROPERTY
@given(scenarios(max_duration=2 * DAY_S), st.lists(st.integers(0, 2 * DAY_S - 1), max_size=12))
def test_composite_equals_reference_over_two_days(scenario: dict[str, Any], probes: list[int]) -> None:
    """Horizons up to two days, compared at every second where either side may change.

    The composite is constant between its own period bounds and the reference between the
    breakpoints of :func:`_breakpoints`, so agreeing at all of those (and one second before
    each) is agreeing everywhere. The random probes check that breakpoint claim itself."""
    result = _run(scenario)
    duration = scenario["duration_s"]
    if duration == 0:
        return
    breaks = _breakpoints(scenario)
    bounds = {s for p in result.periods for s in (p.start_s, p.end_s)}
    probes = [s % duration for s in probes]
    seconds = {s for b in breaks | bounds for s in (b - 1, b) if 0 <= s < duration}
    seconds |= {duration - 1, *probes}
    expected = _reference(scenario, seconds)
    ordered = sorted(breaks)
    for s in probes:
        before = ordered[bisect.bisect_right(ordered, s) - 1]
        assert expected[s] == _reference(scenario, {before})[before], f"a breakpoint is missing before {s}"
    _compare(result, expected, scenario["connector"])


def test_composite_rejects_what_the_reference_rejects() -> None:
    composite_schedule, _ = _implementation()
    connectors = {1: THREE_PHASE}
    for connector, duration in ((1, -1), (2, 60), (-1, 60)):
        with pytest.raises(ValueError):
            composite_schedule(
                [], connector, MONDAY, duration, RateUnit.AMPS, connectors=connectors, transactions={}
            )
        with pytest.raises(ValueError):
            reference_limits(
                [], connector, MONDAY, duration, RateUnit.AMPS, connectors=connectors, transactions={}
            )
    empty = composite_schedule([], 0, MONDAY, 0, RateUnit.WATTS, connectors=connectors, transactions={})
    assert (empty.duration_s, empty.periods) == (0, ())


# --- the reference itself, on hand-worked examples --------------------------------------

T0 = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)


def _profile(
    purpose: Purpose, connector: int, periods: list[tuple[int, float] | tuple[int, float, int]], *,
    level: int = 0, kind: Kind = Kind.ABSOLUTE, start: datetime | None = T0,
    duration: int | None = None, unit: RateUnit = RateUnit.AMPS, transaction_id: int | None = None,
    recurrency: Recurrency | None = None, valid_to: datetime | None = None, profile_id: int = 1,
) -> Profile:
    schedule = Schedule(
        unit, tuple(Period(*p) for p in periods), duration,
        None if kind is Kind.RELATIVE else start,
    )
    return Profile(
        profile_id, connector, purpose, level, kind, schedule, recurrency,
        None, valid_to, transaction_id,
    )


def _runs(values: list[tuple[float, int | None] | None]) -> list[tuple[int, Any]]:
    """The per-second list as (first second, value) runs, easier to read and assert."""
    runs: list[tuple[int, Any]] = []
    for s, v in enumerate(values):
        if not runs or runs[-1][1] != v:
            runs.append((s, v))
    return runs


def _ref(profiles: list[Profile], connector: int = 1, start: datetime = T0, duration: int = 120, *,
         unit: RateUnit = RateUnit.AMPS, connectors: dict[int, Electrical] | None = None,
         transactions: dict[int, tuple[int, datetime]] | None = None) -> list[tuple[int, Any]]:
    return _runs(reference_limits(
        profiles, connector, start, duration, unit,
        connectors=connectors or {1: THREE_PHASE}, transactions=transactions or {},
    ))


def test_reference_examples_zero_amps_is_a_limit_and_before_the_start_is_a_gap() -> None:
    late = _profile(Purpose.TX_DEFAULT, 1, [(0, 16), (60, 0)], start=T0 + timedelta(seconds=30))
    assert _ref([late]) == [(0, None), (30, (16, None)), (90, (0.0, None))]


def test_reference_examples_tx_profile_beats_tx_default() -> None:
    default = _profile(Purpose.TX_DEFAULT, 0, [(0, 16)], level=3, profile_id=1)
    tx = _profile(
        Purpose.TX, 1, [(0, 10, 1)], kind=Kind.RELATIVE, duration=60, transaction_id=7, profile_id=2
    )
    stale = _profile(Purpose.TX, 1, [(0, 2)], level=1, transaction_id=6, profile_id=3)
    running = {1: (7, T0 - timedelta(seconds=30))}
    # The TxProfile counts from the transaction's start: its 60 s end 30 s into the horizon.
    assert _ref([default, tx, stale], transactions=running) == [(0, (10, 1)), (30, (16, None))]
    # Without the transaction neither TxProfile applies.
    assert _ref([default, tx, stale]) == [(0, (16, None))]


def test_reference_examples_stack_hands_over_when_a_duration_ends() -> None:
    high = _profile(Purpose.TX_DEFAULT, 1, [(0, 8)], level=2, duration=100, profile_id=1)
    low = _profile(Purpose.TX_DEFAULT, 1, [(0, 20)], level=1, profile_id=2)
    assert _ref([high, low]) == [(0, (8, None)), (100, (20, None))]
    # At equal stack level the connector's own TxDefault beats connector 0's.
    everywhere = _profile(Purpose.TX_DEFAULT, 0, [(0, 32)], level=2, profile_id=3)
    assert _ref([everywhere, high, low]) == [(0, (8, None)), (100, (32, None))]


def test_reference_examples_daily_recurrence_over_midnight() -> None:
    # Every evening from 22:00: 6 A, from midnight 32 A, until 06:00.
    first = datetime(2026, 3, 1, 22, 0, tzinfo=UTC)
    nightly = _profile(
        Purpose.TX_DEFAULT, 1, [(0, 6), (7200, 32)], kind=Kind.RECURRING,
        recurrency=Recurrency.DAILY, start=first, duration=8 * 3600,
    )
    midnight = datetime(2026, 3, 6, tzinfo=UTC)
    assert _ref([nightly], start=midnight - timedelta(seconds=60)) == [(0, (6, None)), (60, (32, None))]
    morning = datetime(2026, 3, 6, 6, tzinfo=UTC)
    before_six = morning - timedelta(seconds=30)
    assert _ref([nightly], start=before_six, duration=60) == [(0, (32, None)), (30, None)]
    # Nothing before the first start.
    assert _ref([nightly], start=first - timedelta(seconds=10), duration=20) == [(0, None), (10, (6, None))]


def test_reference_examples_weekly_recurrence_over_the_week_end() -> None:
    # From Sunday 23:00: 10 A for an hour, then 20 A; weekly, no duration.
    sunday = datetime(2026, 3, 1, 23, tzinfo=UTC)
    weekly = _profile(
        Purpose.TX_DEFAULT, 1, [(0, 10), (3600, 20)], kind=Kind.RECURRING,
        recurrency=Recurrency.WEEKLY, start=sunday,
    )
    next_monday = datetime(2026, 3, 16, tzinfo=UTC)
    assert _ref([weekly], start=next_monday - timedelta(seconds=3630), duration=60) == [
        (0, (20, None)), (30, (10, None)),
    ]
    assert _ref([weekly], start=next_monday - timedelta(seconds=30), duration=60) == [
        (0, (10, None)), (30, (20, None)),
    ]


def test_reference_examples_connector_zero_sums_and_caps() -> None:
    two = {1: THREE_PHASE, 2: THREE_PHASE}
    default = _profile(Purpose.TX_DEFAULT, 0, [(0, 32)], profile_id=1)
    external = _profile(Purpose.EXTERNAL, 2, [(0, 10)], profile_id=2)
    later = T0 + timedelta(seconds=60)
    charger_max = _profile(Purpose.CHARGER_MAX, 0, [(0, 40, 3)], start=later, profile_id=3)
    profiles = [default, external, charger_max]
    # Connector 1: 32 A, then capped at 40 A; connector 2: capped at 10 A by its own cap.
    assert _ref(profiles, 1, connectors=two) == [(0, (32, None))]
    assert _ref(profiles, 2, connectors=two) == [(0, (10, None))]
    # The charger: 32 + 10, then the ChargePointMaxProfile's 40 A (no number of phases).
    assert _ref(profiles, 0, connectors=two) == [(0, (42, None)), (60, (40, None))]
    # Connector 2 with no TxDefault of its own: the charger has only its caps.
    only_one = replace(default, connector=1)
    assert _ref([only_one, external, charger_max], 0, connectors=two) == [(0, None), (60, (40, None))]
    # In W: 42 A x 3 x 230 V.
    assert _ref(profiles, 0, connectors=two, unit=RateUnit.WATTS, duration=1) == [(0, (42 * 690.0, None))]


def test_reference_examples_watts_and_amps() -> None:
    single = {1: ONE_PHASE}
    watts = _profile(Purpose.TX_DEFAULT, 1, [(0, 2300), (60, 6900, 3)], unit=RateUnit.WATTS)
    # 2300 W on a one-phase 230 V connector is 10 A; 6900 W is 30 A there, as the connector
    # has one phase whatever the period names (the charger does not switch phases).
    assert _ref([watts], connectors=single) == [(0, (10.0, None)), (60, (30.0, 3))]
    amps = _profile(Purpose.TX_DEFAULT, 1, [(0, 16)])
    assert _ref([amps], unit=RateUnit.WATTS, duration=1) == [(0, (16 * 3 * 230.0, None))]
    # A cap in W on connector 0 is converted with the capped connector's electrical.
    cap = _profile(Purpose.CHARGER_MAX, 0, [(0, 3680)], unit=RateUnit.WATTS, profile_id=2)
    assert _ref([amps, cap], connectors=single, duration=1) == [(0, (16.0, None))]
    assert _ref([amps, cap], duration=1) == [(0, (3680 / 690, None))]


def test_reference_examples_validity_and_limits() -> None:
    until = _profile(Purpose.TX_DEFAULT, 1, [(0, 16)], valid_to=T0 + timedelta(seconds=45))
    assert _ref([until]) == [(0, (16, None)), (45, None)]
    assert _ref([until], duration=0) == []
    with pytest.raises(ValueError):
        reference_limits([until], 1, T0, -1, RateUnit.AMPS, connectors={1: THREE_PHASE}, transactions={})
    with pytest.raises(ValueError):
        reference_limits([until], 2, T0, 10, RateUnit.AMPS, connectors={1: THREE_PHASE}, transactions={})


def test_reference_examples_relative_counts_from_the_connectors_own_transaction() -> None:
    two = {1: THREE_PHASE, 2: THREE_PHASE}
    # A charger-wide relative TxDefault: 6 A for the first minute of each transaction.
    ramp = _profile(Purpose.TX_DEFAULT, 0, [(0, 6), (60, 16)], kind=Kind.RELATIVE)
    running = {1: (7, T0 - timedelta(seconds=20))}
    assert _ref([ramp], 1, connectors=two, transactions=running) == [(0, (6, None)), (40, (16, None))]
    # Connector 2 has no transaction: its offset counts from the query's start.
    assert _ref([ramp], 2, connectors=two, transactions=running) == [(0, (6, None)), (60, (16, None))]


def test_reference_examples_external_limits_on_zero_and_on_the_connector_both_cap() -> None:
    default = _profile(Purpose.TX_DEFAULT, 1, [(0, 32)], profile_id=1)
    on_zero = _profile(Purpose.EXTERNAL, 0, [(0, 20), (60, 8)], level=0, profile_id=2)
    on_one = _profile(Purpose.EXTERNAL, 1, [(0, 12)], level=3, duration=90, profile_id=3)
    # Each is its own stack and a cap: the lower one applies, whatever the stack levels.
    assert _ref([default, on_zero, on_one]) == [(0, (12, None)), (60, (8, None))]
    # Only caps and no TX-level limit: the caps' minimum; none at all: a gap.
    assert _ref([on_one]) == [(0, (12, None)), (90, None)]
