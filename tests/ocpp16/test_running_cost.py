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
    assert runtime.feedback.calls == [("backend_cost", (1, Decimal("1.50"), "0.25 $/kWh", False, None))]
    # The transaction ended: no more counting (the final cost comes from the backend).
    runtime.local_tx.clear()
    runtime.readings[1] = _Reading(20000.0, 0.0)
    assert pricing.carry_costs(at(4)) == []
    assert len(runtime.feedback.calls) == 1


def test_a_late_final_cost_of_an_earlier_session_keeps_the_next_one_counting(state):
    """A FinalCost for transaction 9 that comes (after an outage) while transaction 10 runs
    on the same connector does not stop 10's running cost from being counted on."""
    runtime = _Runtime(local_tx={1: 10}, readings={1: _Reading(10000.0, 7000.0)})
    pricing = Pricing(runtime, Configuration({}, state, 1))
    pricing.follow(1, 10, running_cost(chargingPrice={"kWhPrice": 0.25}, priceText="0.25 $/kWh"))
    pricing.backend_cost(1, Decimal("4.00"), (), final=True, transaction="tx-9", local_tx=9)
    runtime.readings[1] = _Reading(12000.0, 7000.0)
    assert pricing.carry_costs(at(2)) == [1]  # still counted on: 1.00 + 2 kWh x 0.25
    pricing.backend_cost(1, Decimal("1.60"), (), final=True, transaction="tx-10", local_tx=10)
    runtime.readings[1] = _Reading(14000.0, 7000.0)
    assert pricing.carry_costs(at(3)) == []  # its own final cost stands


# ---------------------------------------------------------------- idle fees after the stop


class _Connector:
    def __init__(self) -> None:
        self.pilot = type("Pilot", (), {"plugged": True})()


class _Charger:
    def __init__(self, numbers: list[int]) -> None:
        self.connectors = {n: _Connector() for n in numbers}

    def connector(self, n: int) -> _Connector | None:
        return self.connectors.get(n)


class _Db:
    async def run(self, func: Any, *args: Any) -> Any:
        return func(*args)


class _Uplink:
    woken = 0

    def wake(self) -> None:
        self.woken += 1


def _unplug_runtime(journal: Any) -> _Runtime:
    runtime = _Runtime()
    runtime.numbers = [1, 2]  # type: ignore[attr-defined]
    runtime.charger = _Charger([1, 2])  # type: ignore[attr-defined]
    runtime.db = _Db()  # type: ignore[attr-defined]
    runtime.journal = journal  # type: ignore[attr-defined]
    runtime.uplink = _Uplink()  # type: ignore[attr-defined]
    return runtime


class _Status:
    def __init__(self, status: str, timestamp: str) -> None:
        self.status, self.timestamp = status, timestamp


async def test_after_a_stop_the_unplug_is_journaled_once_the_cable_is_pulled(state):
    from agent.journal import Journal

    journal = Journal(state.db)
    runtime = _unplug_runtime(journal)
    config = Configuration({"CustomIdleFeeAfterStop": True}, state, 2)
    pricing = Pricing(runtime, config)
    local = journal.begin_transaction(1, "04CA1F01", 1000, "2026-12-07T12:00:00.000Z", [])
    runtime.local_tx[1] = local
    assert await pricing.follow_unplugs() == []
    # Stopped by the driver's card; the cable stays in: the backend bills idle time on.
    journal.end_transaction(local, 5000, "2026-12-07T13:00:00.000Z", "Local", "04CA1F01", [])
    pricing.stopped(1, local)  # its StopTransaction is being sent
    assert await pricing.follow_unplugs() == []  # still the charger's transaction a moment
    del runtime.local_tx[1]
    runtime.statuses[1] = _Status("Finishing", "2026-12-07T13:00:00.000Z")
    assert await pricing.follow_unplugs() == []
    assert pricing.awaiting_unplug(1) == local and pricing.awaiting_unplug(2) is None
    assert not journal.unplug_recorded(local)
    # Pulled: journaled with the time of the Available that followed, once.
    runtime.charger.connectors[1].pilot.plugged = False  # type: ignore[attr-defined]
    runtime.statuses[1] = _Status("Available", "2026-12-07T13:20:00.000Z")
    assert await pricing.follow_unplugs() == [local]
    assert await pricing.follow_unplugs() == []
    assert journal.unplug_recorded(local) and pricing.awaiting_unplug(1) is None
    # Its StopTransaction sent again (no answer before a link failure): no second unplug.
    pricing.stopped(1, local)
    assert await pricing.follow_unplugs() == []
    assert pricing.awaiting_unplug(1) is None
    [entry] = [e for e in journal.pending() if e.kind == "tx_unplugged"]
    assert (entry.local_tx, entry.body["connector"], entry.body["timestamp"]) == (local, 1, "2026-12-07T13:20:00.000Z")
    assert runtime.uplink.woken == 1  # type: ignore[attr-defined]


async def test_a_stop_by_the_unplug_is_journaled_at_once_and_a_new_session_ends_the_wait_at_its_start(state):
    from agent.journal import Journal

    journal = Journal(state.db)
    runtime = _unplug_runtime(journal)
    pricing = Pricing(runtime, Configuration({"CustomIdleFeeAfterStop": True}, state, 2))
    first = journal.begin_transaction(2, "04CA1F01", 0, "2026-12-07T12:00:00.000Z", [])
    journal.end_transaction(first, 10, "2026-12-07T12:10:00.000Z", "EVDisconnected", None, [])
    pricing.stopped(2, first)
    runtime.charger.connectors[2].pilot.plugged = False  # type: ignore[attr-defined]
    assert await pricing.follow_unplugs() == [first]
    # A stop, then (offline, its StopTransaction not sent yet) a new session on the connector:
    # the old one's idle time ended as the new one began.
    runtime.charger.connectors[2].pilot.plugged = True  # type: ignore[attr-defined]
    second = journal.begin_transaction(2, "04CA1F01", 10, "2026-12-07T12:20:00.000Z", [])
    journal.end_transaction(second, 20, "2026-12-07T12:30:00.000Z", "Local", "04CA1F01", [])
    third = journal.begin_transaction(2, "04CA1F01", 20, "2026-12-07T12:40:00.000Z", [])
    runtime.local_tx[2] = third
    pricing.stopped(2, second)
    assert await pricing.follow_unplugs() == [second]
    [entry] = [e for e in journal.pending() if e.kind == "tx_unplugged" and e.local_tx == second]
    assert entry.body["timestamp"] == "2026-12-07T12:40:00.000Z"


async def test_off_nothing_is_awaited_and_after_a_restart_the_last_stop_still_is(state):
    from agent import clock
    from agent.journal import Journal
    from agent.store import iso

    journal = Journal(state.db)
    runtime = _unplug_runtime(journal)
    config = Configuration({}, state, 2)
    pricing = Pricing(runtime, config)
    now = clock.current().now()
    local = journal.begin_transaction(1, "04CA1F01", 0, iso(now - timedelta(minutes=30)), [])
    journal.end_transaction(local, 10, iso(now - timedelta(minutes=20)), "Local", "04CA1F01", [])
    pricing.stopped(1, local)
    runtime.charger.connectors[1].pilot.plugged = False  # type: ignore[attr-defined]
    assert await pricing.follow_unplugs() == []  # CustomIdleFeeAfterStop false: the backend waits for none
    assert not journal.unplug_recorded(local)
    # A new run with it on: the stop of 20 minutes ago is still awaited (its cable is out: at
    # once), also when a StopTransaction left over from before was sent ahead of the first look.
    assert await config.change("CustomIdleFeeAfterStop", "true") == "Accepted"
    again = Pricing(runtime, config)
    other = journal.begin_transaction(2, "04CA1F01", 0, iso(now - timedelta(minutes=5)), [])
    journal.end_transaction(other, 10, iso(now - timedelta(minutes=4)), "Local", "04CA1F01", [])
    again.stopped(2, other)
    assert await again.follow_unplugs() == [local]  # connector 2's cable is still in
    assert again.awaiting_unplug(2) == other
    runtime.charger.connectors[2].pilot.plugged = False  # type: ignore[attr-defined]
    assert await again.follow_unplugs() == [other]
    # One that ended more than a day before the run is not.
    old = journal.begin_transaction(2, "04CA1F01", 0, iso(now - timedelta(days=2)), [])
    journal.end_transaction(old, 10, iso(now - timedelta(days=2)), "Local", "04CA1F01", [])
    runtime.charger.connectors[2].pilot.plugged = False  # type: ignore[attr-defined]
    assert await Pricing(runtime, config).follow_unplugs() == []


def test_the_unplug_is_spelled_connector_unplugged_with_the_backend_s_transaction_id():
    from agent.journal import Entry
    from agent.ocpp16.outbound import NotSendable, request_for

    entry = Entry(9, "tx_unplugged", 4, {"connector": 1, "timestamp": "2026-12-07T13:20:00.000Z"}, 0, 123456, None)
    request = request_for(entry)
    assert (request.vendor_id, request.message_id) == ("org.openchargealliance.costmsg", "ConnectorUnplugged")
    assert json.loads(request.data) == {"transactionId": 123456, "timestamp": "2026-12-07T13:20:00.000Z"}
    with pytest.raises(NotSendable):
        request_for(Entry(9, "tx_unplugged", 4, entry.body, 0, None, None))
