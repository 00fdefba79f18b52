"""The 2.0.1 spelling of charging profiles: ChargingProfileType to the core's Profile and
back, the composite schedule's answer, the duplicate rule, and the EMS limit messages."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from ocpp.charge_point import camel_to_snake_case

from agent.charging_profiles import (
    CompositeSchedule,
    Kind,
    LimitPeriod,
    Period,
    Profile,
    Purpose,
    RateUnit,
    Recurrency,
    Schedule,
    install,
)
from agent.limits import Decision
from agent.ocpp201.charging import ProfileError, composite_answer, duplicate_of, parse_profile, profile_type
from agent.ocpp201.charging_limits import _significant, external_profiles, notify_payload

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def wire(**changes: Any) -> dict[str, Any]:
    """A ChargingProfileType as a backend sends it (camelCase)."""
    body: dict[str, Any] = {
        "id": 7,
        "stackLevel": 2,
        "chargingProfilePurpose": "ChargingStationMaxProfile",
        "chargingProfileKind": "Recurring",
        "recurrencyKind": "Daily",
        "validFrom": "2026-03-01T00:00:00.000Z",
        "validTo": "2026-04-01T00:00:00.000Z",
        "chargingSchedule": [{
            "id": 70,
            "startSchedule": "2026-03-01T06:00:00.000Z",
            "duration": 3600,
            "chargingRateUnit": "W",
            "minChargingRate": 1380.0,
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000.0, "numberPhases": 3},
                                       {"startPeriod": 1800, "limit": 7400.0}],
        }],
    }
    body.update(changes)
    return body


def parsed(body: dict[str, Any], evse: int = 0) -> Profile:
    return parse_profile(camel_to_snake_case(body), evse).profile


def test_a_profile_is_read_into_the_core_terms() -> None:
    profile = parsed(wire())
    assert profile == Profile(
        id=7, connector=0, purpose=Purpose.CHARGER_MAX, stack_level=2, kind=Kind.RECURRING,
        schedule=Schedule(RateUnit.WATTS, (Period(0, 11000.0, 3), Period(1800, 7400.0)), duration_s=3600,
                          start=datetime(2026, 3, 1, 6, tzinfo=timezone.utc), min_rate=1380.0, id=70),
        recurrency=Recurrency.DAILY, valid_from=datetime(2026, 3, 1, tzinfo=timezone.utc),
        valid_to=datetime(2026, 4, 1, tzinfo=timezone.utc),
    )


def test_a_tx_profile_keeps_the_chargers_transaction_id_aside() -> None:
    body = wire(chargingProfilePurpose="TxProfile", chargingProfileKind="Relative", transactionId="abc-123")
    del body["recurrencyKind"]
    result = parse_profile(camel_to_snake_case(body), 1)
    assert result.transaction_uid == "abc-123"
    assert result.profile.transaction_id is None  # the handler looks it up in the journal
    assert result.profile.schedule.start is None  # a Relative schedule counts from the transaction


def test_it_is_reported_back_as_it_was_given() -> None:
    body = wire()
    again = profile_type(parsed(body), None)
    assert again == body


@pytest.mark.parametrize(("changes", "reason"), [
    ({"chargingSchedule": wire()["chargingSchedule"] * 2}, "InvalidSchedule"),
    ({"chargingProfilePurpose": "ChargingStationExternalConstraints"}, "InvalidProfile"),
    ({"validFrom": "2026-03-01T00:00:00"}, "InvalidValue"),
    ({"validTo": "soon"}, "InvalidValue"),
    ({"id": 2**63}, "InvalidProfile"),
])
def test_what_2_0_1_spells_wrong_is_refused_with_a_reason(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(ProfileError) as caught:
        parsed(wire(**changes))
    assert caught.value.reason == reason and str(caught.value)


def _default(profile_id: int, level: int = 0, connector: int = 1, **validity: datetime) -> Profile:
    schedule = Schedule(RateUnit.AMPS, (Period(0, 10.0),), start=T0)
    return Profile(profile_id, connector, Purpose.TX_DEFAULT, level, Kind.ABSOLUTE, schedule, **validity)  # type: ignore[arg-type]


def test_a_duplicate_needs_the_same_level_purpose_evse_and_overlapping_validity() -> None:
    hour = timedelta(hours=1)
    first = _default(1, valid_to=T0 + hour)
    assert duplicate_of(_default(2), (first,), T0) == first
    assert duplicate_of(_default(1), (first,), T0) is None  # its own id: a replacement
    assert duplicate_of(_default(2, level=1), (first,), T0) is None
    assert duplicate_of(_default(2, connector=0), (first,), T0) is None
    later = _default(2, valid_from=T0 + hour)
    assert duplicate_of(later, (first,), T0) is None
    assert duplicate_of(_default(2), (first,), T0 + hour) is None  # the first is over by then
    # 2.0.1 installs by id only: the two stay, one after the other.
    assert install(later, (first,), by_level=False) == (first, later)
    assert install(later, (first,)) == (later,)  # 1.6 replaces by level


def test_an_absolute_schedule_that_has_run_its_duration_is_no_duplicate() -> None:
    yesterday = replace(_default(1), schedule=replace(_default(1).schedule, start=T0 - timedelta(days=1),
                                                      duration_s=86_400))
    today = replace(_default(2), schedule=replace(_default(2).schedule, duration_s=86_400))
    assert duplicate_of(today, (yesterday,), T0) is None
    assert duplicate_of(today, (yesterday,), T0 - timedelta(hours=1)) is None  # one after the other


def test_tx_profiles_collide_on_stack_level_and_transaction() -> None:
    tx = replace(_default(1), purpose=Purpose.TX, transaction_id=5)
    assert duplicate_of(replace(tx, id=2), (tx,), T0) == tx
    assert duplicate_of(replace(tx, id=2, transaction_id=6), (tx,), T0) is None


def test_the_composite_answer_fills_gaps_with_the_maximum_and_invents_nothing() -> None:
    empty = CompositeSchedule(1, T0, 600, RateUnit.AMPS, ())
    assert composite_answer(empty, 32.0, 3) is None
    composite = CompositeSchedule(1, T0, 600, RateUnit.AMPS, (
        LimitPeriod(10, 100, 10.05, 3), LimitPeriod(200, 300, 8.0)))
    answer = composite_answer(composite, 32.0, 3)
    assert answer == {
        "evse_id": 1, "duration": 290, "schedule_start": "2026-03-01T12:00:10.000Z", "charging_rate_unit": "A",
        "charging_schedule_period": [{"start_period": 0, "limit": 10.0, "number_phases": 3},
                                     {"start_period": 90, "limit": 32.0}, {"start_period": 190, "limit": 8.0}],
    }


def test_the_site_limit_is_told_as_an_ems_schedule() -> None:
    payload = notify_payload(2, 15.96, 3, T0 + timedelta(microseconds=5))
    assert payload["charging_limit"] == {"chargingLimitSource": "EMS"}
    assert payload["charging_schedule"][0]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 15.9, "numberPhases": 3}]
    assert payload["charging_schedule"][0]["startSchedule"] == "2026-03-01T12:00:00.000Z"
    decisions = {1: Decision(16.0, "site limit", by_site=True), 2: Decision(10.0, "charging profile 3"),
                 3: Decision(None, "connector maximum 32 A")}
    (only,) = external_profiles(decisions, T0)
    assert (only.id, only.connector, only.purpose, only.schedule.periods) == (-1, 1, Purpose.EXTERNAL,
                                                                             (Period(0, 16.0),))


@pytest.mark.parametrize(("before", "after", "told"), [
    (20.0, 21.0, False), (20.0, 23.0, True), (20.0, 17.0, True), (0.0, 6.0, True), (0.0, 0.0, False)])
def test_a_limit_is_told_again_when_it_moves_more_than_the_significance(before: float, after: float,
                                                                       told: bool) -> None:
    assert _significant(before, after, 10.0) is told
