"""SetChargingProfile and ClearChargingProfile on the installed set: what is refused (and
the reason a technician reads in the log), what replaces what, what is cleared."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from agent.charging_profiles import (
    Kind,
    Period,
    Profile,
    ProfileLimits,
    Purpose,
    RateUnit,
    Recurrency,
    Schedule,
    check,
    clear,
    end_transaction,
    install,
)

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
LIMITS = ProfileLimits(max_stack_level=8, allowed_units=frozenset({RateUnit.AMPS}), max_periods=4, max_installed=3)
CONNECTORS = (1, 2)
RUNNING = {1: (41, T0)}


def absolute(id: int = 1, purpose: Purpose = Purpose.TX_DEFAULT, connector: int = 1, level: int = 0, **kw: object) -> Profile:
    return Profile(id, connector, purpose, level, Kind.ABSOLUTE, Schedule(RateUnit.AMPS, (Period(0, 16.0),), start=T0), **kw)  # type: ignore[arg-type]


def with_schedule(p: Profile, **kw: object) -> Profile:
    return replace(p, schedule=replace(p.schedule, **kw))


GOOD = absolute()
RECURRING = replace(GOOD, kind=Kind.RECURRING, recurrency=Recurrency.DAILY)
RELATIVE = replace(GOOD, kind=Kind.RELATIVE, schedule=replace(GOOD.schedule, start=None))

REFUSED = [
    # (what is wrong, the profile, words the reason must contain)
    ("connector that does not exist", absolute(connector=3), ["connector 3", "does not exist"]),
    ("charger maximum on a connector", absolute(purpose=Purpose.CHARGER_MAX, connector=1), ["ChargePointMaxProfile", "connector", "0", "1"]),
    ("TX profile on connector 0", absolute(purpose=Purpose.TX, connector=0, transaction_id=41), ["TxProfile", "connector 0"]),
    ("TX profile without a transaction", absolute(purpose=Purpose.TX, connector=2, transaction_id=41), ["running transaction", "connector 2"]),
    ("TX profile of another transaction", absolute(purpose=Purpose.TX, connector=1, transaction_id=40), ["transaction_id 40", "41"]),
    ("TX profile naming no transaction", absolute(purpose=Purpose.TX, connector=1), ["transaction_id", "missing", "41"]),
    ("negative stack level", absolute(level=-1), ["stack_level -1", "0..8"]),
    ("stack level over the maximum", absolute(level=9), ["stack_level 9", "0..8"]),
    ("unit not allowed", with_schedule(GOOD, unit=RateUnit.WATTS), ["W", "not accepted", "A"]),
    ("no periods", with_schedule(GOOD, periods=()), ["no periods"]),
    ("too many periods", with_schedule(GOOD, periods=tuple(Period(60 * i, 16) for i in range(5))), ["5 periods", "4"]),
    ("first period not at 0", with_schedule(GOOD, periods=(Period(10, 16),)), ["first period", "10 s"]),
    ("starts not increasing", with_schedule(GOOD, periods=(Period(0, 16), Period(600, 8), Period(600, 6))), ["period start 600 s", "previous"]),
    ("negative limit", with_schedule(GOOD, periods=(Period(0, 16), Period(60, -1))), ["limit -1", "60 s"]),
    ("limit not a number", with_schedule(GOOD, periods=(Period(0, float("nan")),)), ["limit nan"]),
    ("zero phases", with_schedule(GOOD, periods=(Period(0, 16, 0),)), ["number_phases 0"]),
    ("four phases", with_schedule(GOOD, periods=(Period(0, 16, 4),)), ["number_phases 4"]),
    ("recurring without recurrency", replace(RECURRING, recurrency=None), ["Recurring", "recurrency"]),
    ("recurring without start", with_schedule(RECURRING, start=None), ["Recurring", "start"]),
    ("absolute without start", with_schedule(GOOD, start=None), ["Absolute", "start"]),
    ("relative with a start", with_schedule(RELATIVE, start=T0), ["Relative", "start", "2026-03-02T08:00:00"]),
    ("recurrency on an absolute profile", replace(GOOD, recurrency=Recurrency.WEEKLY), ["recurrency Weekly", "Absolute"]),
    ("zero duration", with_schedule(GOOD, duration_s=0), ["duration 0 s", "positive"]),
    ("negative duration", with_schedule(RELATIVE, duration_s=-5), ["duration -5 s", "positive"]),
    ("daily duration over a day", with_schedule(RECURRING, duration_s=86_401), ["duration 86401 s", "Daily", "86400"]),
    ("weekly duration over a week", with_schedule(replace(RECURRING, recurrency=Recurrency.WEEKLY), duration_s=604_801), ["duration 604801 s", "Weekly", "604800"]),
    ("valid_to before valid_from", replace(GOOD, valid_from=T0, valid_to=T0 - timedelta(seconds=1)), ["valid_to", "valid_from", "07:59:59"]),
    ("valid_to equal to valid_from", replace(GOOD, valid_from=T0, valid_to=T0), ["valid_to", "not after"]),
    ("a default naming a transaction", absolute(transaction_id=41), ["transaction_id", "only for a TxProfile", "TxDefaultProfile"]),
    ("relative charger maximum", replace(RELATIVE, purpose=Purpose.CHARGER_MAX, connector=0), ["ChargePointMaxProfile", "Relative"]),
    ("daily period past the day", with_schedule(RECURRING, periods=(Period(0, 16), Period(86_400, 8))), ["86400 s", "Daily", "never apply"]),
    ("a limit no charger has", with_schedule(GOOD, periods=(Period(0, 1e12),)), ["limit 1e+12", "beyond any charger"]),
    ("an id SQLite cannot store", absolute(id=2**63), [f"id {2**63}", "outside"]),
    ("a transaction id SQLite cannot store", absolute(purpose=Purpose.TX, transaction_id=-(2**63) - 1), ["transaction_id", "outside"]),
]


@pytest.mark.parametrize("what, bad, words", REFUSED, ids=[r[0] for r in REFUSED])
def test_a_bad_profile_is_refused_with_a_reason_naming_the_problem(what: str, bad: Profile, words: list[str]) -> None:
    reason = check(bad, (), connectors=CONNECTORS, transactions=RUNNING, limits=LIMITS)
    assert reason is not None, what
    for word in words:
        assert word in reason, f"{what}: {reason!r} does not say {word!r}"


ACCEPTED = [
    ("default on a connector", GOOD),
    ("default on connector 0", absolute(connector=0)),
    ("charger maximum on connector 0", absolute(purpose=Purpose.CHARGER_MAX, connector=0, level=8)),
    ("TX profile of the running transaction", absolute(purpose=Purpose.TX, connector=1, transaction_id=41)),
    ("external constraints on a connector", absolute(purpose=Purpose.EXTERNAL, connector=2)),
    ("daily, a full day", with_schedule(RECURRING, duration_s=86_400)),
    ("relative with a duration", with_schedule(RELATIVE, duration_s=1)),
    ("zero limit, as many periods as allowed, each phase count", with_schedule(
        GOOD, periods=(Period(0, 0), Period(60, 6, 1), Period(120, 8, 2), Period(180, 10, 3)))),
    ("a validity window", replace(GOOD, valid_from=T0, valid_to=T0 + timedelta(seconds=1))),
]


@pytest.mark.parametrize("what, good", ACCEPTED, ids=[a[0] for a in ACCEPTED])
def test_a_sound_profile_is_accepted(what: str, good: Profile) -> None:
    assert check(good, (), connectors=CONNECTORS, transactions=RUNNING, limits=LIMITS) is None


def test_the_installed_count_counts_the_replaced_profiles_as_gone() -> None:
    full = (absolute(1, level=0), absolute(2, level=1), absolute(3, level=2))
    reason = check(absolute(4, level=3), full, connectors=CONNECTORS, transactions=RUNNING, limits=LIMITS)
    assert reason is not None and "4 profiles" in reason and "3" in reason
    same_id = check(absolute(2, level=5), full, connectors=CONNECTORS, transactions=RUNNING, limits=LIMITS)
    same_slot = check(absolute(9, level=2), full, connectors=CONNECTORS, transactions=RUNNING, limits=LIMITS)
    assert same_id is None and same_slot is None


def test_a_profile_replaces_the_one_with_its_id() -> None:
    old = absolute(7, level=1)
    other = absolute(8, level=2)
    new = absolute(7, purpose=Purpose.EXTERNAL, connector=2, level=4)
    assert install(new, (old, other)) == (other, new)


def test_a_profile_replaces_the_one_at_its_stack_level_purpose_and_connector() -> None:
    old = absolute(1, level=2)
    elsewhere = absolute(2, connector=2, level=2)
    other_purpose = absolute(3, purpose=Purpose.EXTERNAL, level=2)
    other_level = absolute(4, level=3)
    new = absolute(5, level=2)
    assert install(new, (old, elsewhere, other_purpose, other_level)) == (elsewhere, other_purpose, other_level, new)


INSTALLED = (
    absolute(1, Purpose.TX_DEFAULT, connector=0, level=0),
    absolute(2, Purpose.TX_DEFAULT, connector=1, level=1),
    absolute(3, Purpose.CHARGER_MAX, connector=0, level=1),
    absolute(4, Purpose.TX, connector=1, level=0, transaction_id=41),
    absolute(5, Purpose.EXTERNAL, connector=2, level=1),
)


def _ids(profiles: tuple[Profile, ...]) -> list[int]:
    return [p.id for p in profiles]


@pytest.mark.parametrize(
    "criteria, removed",
    [
        ({"profile_id": 3}, [3]),
        ({"profile_id": 3, "connector": 1, "purpose": Purpose.TX}, [3]),  # the id alone counts
        ({"profile_id": 99}, []),
        ({"connector": 0}, [1, 3]),
        ({"purpose": Purpose.TX_DEFAULT}, [1, 2]),
        ({"stack_level": 1}, [2, 3, 5]),
        ({"connector": 1, "stack_level": 1}, [2]),
        ({"connector": 1, "purpose": Purpose.TX, "stack_level": 0}, [4]),
        ({"connector": 2, "purpose": Purpose.TX_DEFAULT}, []),
        ({}, [1, 2, 3, 4, 5]),
    ],
)
def test_clear_removes_what_matches_and_keeps_the_rest(criteria: dict[str, object], removed: list[int]) -> None:
    kept, gone = clear(INSTALLED, **criteria)  # type: ignore[arg-type]
    assert _ids(gone) == removed
    assert _ids(kept) == [p.id for p in INSTALLED if p.id not in removed]


def test_the_end_of_a_transaction_removes_its_tx_profiles_only() -> None:
    other_tx = absolute(6, Purpose.TX, connector=2, level=0, transaction_id=42)
    after = end_transaction((*INSTALLED, other_tx), 1, 41)
    assert _ids(after) == [1, 2, 3, 5, 6]
    assert end_transaction(INSTALLED, 1, 40) == INSTALLED, "another transaction's end changes nothing"
