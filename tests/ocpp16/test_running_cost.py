"""The cost counted on between two RunningCost messages (OCPP 1.6 California Pricing
whitepaper: the charger carries the backend's cost on with the unit prices it sent and
what it measures), against hand-worked examples; and what the screen is told."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from agent.ocpp16 import costmsg
from agent.ocpp16.pricing import Pricing
from agent.ocpp16.running_cost import basis_of, estimate, rebased
from agent.runtime_settings.configuration import Configuration
from agent.store import ChargerState, Database

from .test_pricing import _Reading, _Runtime

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)


def running_cost(**fields: Any) -> costmsg.RunningCost:
    data = {"transactionId": 7, "timestamp": "2026-12-07T12:00:00Z", "meterValue": 10000, "cost": 1.00,
            "state": "Charging", **fields}
    message = costmsg.parse("RunningCost", json.dumps(data))
    assert isinstance(message, costmsg.RunningCost)
    return message


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.mark.parametrize("fields, minutes, energy_wh, expected", [
    # 2 kWh more at 0.25/kWh
    ({"chargingPrice": {"kWhPrice": 0.25}}, 10, 12000, "1.50"),
    # 1.5 kWh at 0.10 and half an hour at 2.00/h
    ({"chargingPrice": {"kWhPrice": 0.10, "hourPrice": 2.00}}, 30, 11500, "2.15"),
    # the flat fee is in the backend's cost already: never added again
    ({"chargingPrice": {"flatFee": 5.00}}, 30, 20000, "1.00"),
    # the meter not known: the time part only
    ({"chargingPrice": {"kWhPrice": 0.25, "hourPrice": 1.20}}, 15, None, "1.30"),
    # before the backend's timestamp (clocks apart): its cost as it is
    ({"chargingPrice": {"kWhPrice": 0.25}}, -1, 12000, "1.00"),
    # Idle: nothing within the grace period, and the charging prices do not run
    ({"state": "Idle", "cost": 2.00, "chargingPrice": {"kWhPrice": 0.25},
      "idlePrice": {"graceMinutes": 30, "hourPrice": 1.20}}, 20, 12000, "2.00"),
    # Idle: 15 minutes after a 30 minute grace at 1.20/h
    ({"state": "Idle", "cost": 2.00, "chargingPrice": {"kWhPrice": 0.25},
      "idlePrice": {"graceMinutes": 30, "hourPrice": 1.20}}, 45, 12000, "2.30"),
    # Idle without an idle price: free
    ({"state": "Idle", "cost": 2.00}, 45, 12000, "2.00"),
])
def test_the_cost_is_counted_on_from_the_last_running_cost(fields, minutes, energy_wh, expected):
    basis = basis_of(running_cost(**fields), 10, None)
    assert basis is not None
    energy = None if energy_wh is None else Decimal(energy_wh)
    assert estimate(basis, at(minutes), energy).quantize(Decimal("0.01")) == Decimal(expected)


def test_the_grace_period_counts_from_the_running_cost_that_turned_idle():
    idle = {"state": "Idle", "idlePrice": {"graceMinutes": 30, "hourPrice": 1.20}}
    charging = basis_of(running_cost(chargingPrice={"kWhPrice": 0.25}), 10, None)
    first = basis_of(running_cost(cost=2.00, **idle), 10, charging)
    assert first is not None and first.idle_since == T0
    # 40 minutes later the backend says 2.20 (10 minutes billed): the grace is not restarted.
    later = basis_of(running_cost(cost=2.20, timestamp="2026-12-07T12:40:00Z", **idle), 10, first)
    assert later is not None and later.idle_since == T0
    assert estimate(later, at(60), Decimal(10000)) == Decimal("2.60")
    # Charging again, then idle again: a new grace period.
    again = basis_of(running_cost(cost=2.60, timestamp="2026-12-07T13:00:00Z", chargingPrice={"kWhPrice": 0.25}),
                     10, later)
    idle_again = basis_of(running_cost(cost=2.60, timestamp="2026-12-07T13:10:00Z", **idle), 10, again)
    assert idle_again is not None and idle_again.idle_since == at(70)
    # Another transaction's idle state is not this one's.
    other = basis_of(running_cost(cost=0, **idle), 11, later)
    assert other is not None and other.idle_since == T0 and other.local_tx == 11


def test_the_next_period_s_prices_apply_from_its_time():
    message = running_cost(cost=0, meterValue=0, chargingPrice={"kWhPrice": 0.30},
                           nextPeriod={"atTime": "2026-12-07T13:00:00Z", "chargingPrice": {"kWhPrice": 0.10}})
    basis = basis_of(message, 10, None)
    assert basis is not None and basis.next_period is not None
    assert rebased(basis, at(59), Decimal(9000)) == basis  # not yet
    switched = rebased(basis, at(60), Decimal(10000))
    assert (switched.cost, switched.meter_wh, switched.at, switched.next_period) == (Decimal("3.0"), 10000, at(60), None)
    assert switched.charging is not None and switched.charging.kwh == Decimal("0.10")
    assert estimate(switched, at(120), Decimal(15000)) == Decimal("3.5")


def test_a_running_cost_without_timestamp_or_meter_value_gives_nothing_to_count_from():
    data = {"transactionId": 7, "cost": 1.0, "state": "Charging", "chargingPrice": {"kWhPrice": 0.25}}
    message = costmsg.parse("RunningCost", json.dumps(data))
    assert isinstance(message, costmsg.RunningCost)
    assert basis_of(message, 10, None) is None


@pytest.fixture
def state(tmp_path):
    db = Database(tmp_path)
    db.open()
    yield ChargerState(db)
    db.close()


def test_the_screen_is_told_the_counted_cost_when_its_shown_value_changes(state):
    runtime = _Runtime(local_tx={1: 10}, readings={1: _Reading(10000.0, 7000.0)})
    pricing = Pricing(runtime, Configuration({}, state, 1))
    pricing.follow(1, 10, running_cost(chargingPrice={"kWhPrice": 0.25}, priceText="0.25 $/kWh"))
    assert pricing.carry_costs(at(1)) == []  # no energy since: 1.00, as shown already
    runtime.readings[1] = _Reading(12000.0, 7000.0)
    assert pricing.carry_costs(at(2)) == [1]
    runtime.readings[1] = _Reading(12010.0, 7000.0)
    assert pricing.carry_costs(at(3)) == []  # 1.5025 is still 1.50 on the screen
    assert runtime.feedback.calls == [("backend_cost", (1, Decimal("1.50"), "0.25 $/kWh", False))]
    # The transaction ended: no more counting (the final cost comes from the backend).
    runtime.local_tx.clear()
    runtime.readings[1] = _Reading(20000.0, 0.0)
    assert pricing.carry_costs(at(4)) == []
    assert len(runtime.feedback.calls) == 1
