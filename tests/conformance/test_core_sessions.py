"""Core modules 02, 03, 09 and 10 (local sessions): TC_003, TC_004_1, TC_004_2, TC_005_1,
TC_005_2, TC_005_3, TC_068, TC_069, TC_023_4 and TC_070, plus two connectors at once.

Each test drives the bench as a driver would (plug, tap, unplug) and asserts what the
backend saw: the order of the charge point's messages, their payloads, and the ledger
the backend built from them.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from simulators.control import ControlError

from .helpers import (
    actions,
    anomalies,
    call,
    expect_none,
    last_seq,
    ledger,
    messages,
    new_id_tag,
    parse_time,
    payload_of,
    plug_and_charge,
    transaction,
    wait_energy,
    wait_for,
    wait_status,
)

SAMPLED = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage"


def _recent(stamp: str) -> datetime:
    """Parse a charge point timestamp and check it is the present (the agent runs on this clock)."""
    moment = parse_time(stamp)
    assert abs(datetime.now(timezone.utc) - moment) < timedelta(minutes=1), f"timestamp {stamp} is not now"
    return moment


def _check_start(start: dict, connector: int, id_tag: str) -> None:
    assert start["connectorId"] == connector
    assert start["idTag"] == id_tag
    assert isinstance(start["meterStart"], int) and start["meterStart"] >= 0, start
    _recent(start["timestamp"])


def _check_stop(stop: dict, start: dict, transaction_id: int, reason: str, id_tag: str | None) -> None:
    assert stop["transactionId"] == transaction_id
    assert stop.get("reason", "Local") == reason
    assert stop.get("idTag") == id_tag
    assert isinstance(stop["meterStop"], int) and stop["meterStop"] >= start["meterStart"], (start, stop)
    assert _recent(stop["timestamp"]) >= parse_time(start["timestamp"])


async def _charge_for_a_while(stack, connector: int = 1, wh: float = 10.0) -> None:
    """Let energy flow: the bench's meter must advance ``wh`` past the transaction's start."""
    start = (await messages(stack, "StartTransaction"))[-1]["payload"]
    await wait_energy(stack, connector, start["meterStart"] + wh, timeout=10)


# ---------------------------------------------------------------- module 02: start session


async def test_tc_003_regular_charging_session_plugin_first(charger):
    stack = await charger()
    tag = new_id_tag()
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=32)
    await wait_status(stack, 1, "Preparing", since)
    await stack.bench_request("tap", uid=tag)
    await wait_status(stack, 1, "Charging", since)
    assert await actions(stack, since) == [
        "StatusNotification:1:Preparing",
        "Authorize",
        "StartTransaction",
        "StatusNotification:1:Charging",
    ]
    assert await payload_of(stack, "Authorize", since) == {"idTag": tag}
    start = await payload_of(stack, "StartTransaction", since)
    _check_start(start, 1, tag)
    record = await transaction(stack)
    await _charge_for_a_while(stack)

    stop_since = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)
    await wait_status(stack, 1, "Finishing", stop_since)
    assert await actions(stack, stop_since) == ["StopTransaction", "StatusNotification:1:Finishing"]
    stop = await payload_of(stack, "StopTransaction", stop_since)
    _check_stop(stop, start, record["transaction_id"], "Local", tag)
    assert stop["meterStop"] >= start["meterStart"] + 10

    unplug_since = await last_seq(stack)
    await stack.bench_request("unplug", connector=1)
    await wait_status(stack, 1, "Available", unplug_since)
    assert await actions(stack, unplug_since) == ["StatusNotification:1:Available"]

    record = await transaction(stack)
    assert record["stopped"] and record["connector_id"] == 1 and record["id_tag"] == tag
    assert record["energy_wh"] == stop["meterStop"] - start["meterStart"] > 0
    assert await anomalies(stack) == []


async def test_tc_004_1_regular_charging_session_identification_first(charger):
    stack = await charger()
    tag = new_id_tag()
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)
    await wait_status(stack, 1, "Preparing", since)
    assert await actions(stack, since) == ["Authorize", "StatusNotification:1:Preparing"]
    assert await payload_of(stack, "Authorize", since) == {"idTag": tag}

    plug_since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=32)
    await wait_status(stack, 1, "Charging", plug_since)
    assert await actions(stack, plug_since) == ["StartTransaction", "StatusNotification:1:Charging"]
    start = await payload_of(stack, "StartTransaction", plug_since)
    _check_start(start, 1, tag)
    await _charge_for_a_while(stack)

    stop_since = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)
    await wait_status(stack, 1, "Finishing", stop_since)
    stop = await payload_of(stack, "StopTransaction", stop_since)
    _check_stop(stop, start, (await transaction(stack))["transaction_id"], "Local", tag)
    await stack.bench_request("unplug", connector=1)
    await wait_status(stack, 1, "Available", stop_since)
    assert await actions(stack, stop_since) == [
        "StopTransaction",
        "StatusNotification:1:Finishing",
        "StatusNotification:1:Available",
    ]


async def test_tc_004_2_identification_first_connection_timeout(charger):
    stack = await charger(ocpp={"ConnectionTimeOut": 3})
    tag = new_id_tag()
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)
    preparing = await wait_status(stack, 1, "Preparing", since)
    # No EV within ConnectionTimeOut: the authorization lapses and the connector is free again.
    available = await wait_status(stack, 1, "Available", preparing, timeout=10)
    assert await actions(stack, since) == [
        "Authorize",
        "StatusNotification:1:Preparing",
        "StatusNotification:1:Available",
    ]
    # The agent stamps each status when it changed: immune to delays on the way to the backend.
    stamps = {m["seq"]: parse_time(m["payload"]["timestamp"]) for m in await messages(stack, "StatusNotification", since)}
    waited = (stamps[available] - stamps[preparing]).total_seconds()
    assert 2.0 <= waited <= 6.0, f"Preparing lasted {waited:.1f} s with ConnectionTimeOut 3 s"

    # An EV arriving after the timeout does not start a transaction on the lapsed card.
    plug_since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=32)
    await wait_status(stack, 1, "Preparing", plug_since)
    await expect_none(stack, "StartTransaction", since, within=1.0)
    assert await actions(stack, plug_since) == ["StatusNotification:1:Preparing"]
    assert await ledger(stack) == []


# ---------------------------------------------------------------- module 03: stop session


async def _ev_side_disconnect(stack, tag: str) -> None:
    """Charge, pull the cable: one StopTransaction (EVDisconnected), then Available."""
    await plug_and_charge(stack, id_tag=tag)
    start = await payload_of(stack, "StartTransaction")
    await _charge_for_a_while(stack)
    since = await last_seq(stack)
    await stack.bench_request("unplug", connector=1)
    await wait_status(stack, 1, "Available", since)
    seen = await actions(stack, since)
    # 4.9: Charging -> Available on unplugging (Finishing may be reported in between).
    assert seen in (
        ["StopTransaction", "StatusNotification:1:Available"],
        ["StatusNotification:1:Finishing", "StopTransaction", "StatusNotification:1:Available"],
        ["StopTransaction", "StatusNotification:1:Finishing", "StatusNotification:1:Available"],
    ), seen
    stop = await payload_of(stack, "StopTransaction", since)
    _check_stop(stop, start, (await transaction(stack))["transaction_id"], "EVDisconnected", stop.get("idTag"))
    assert stop.get("idTag") in (None, tag)
    record = await transaction(stack)
    assert record["stopped"] and record["reason"] == "EVDisconnected" and record["energy_wh"] > 0


async def test_tc_005_1_ev_side_disconnected_stop_and_unlock(charger):
    # A socket outlet with a cable lock, so the unlock can be seen.
    stack = await charger(
        lock=True, ocpp={"StopTransactionOnEVSideDisconnect": True, "UnlockConnectorOnEVSideDisconnect": True}
    )
    await _ev_side_disconnect(stack, new_id_tag())
    await stack.bench_request("wait_for", connector=1, field="locked", value=False, timeout=5)


async def test_tc_005_2_ev_side_disconnected_stop_without_unlock(charger):
    stack = await charger(
        lock=True, ocpp={"StopTransactionOnEVSideDisconnect": True, "UnlockConnectorOnEVSideDisconnect": False}
    )
    await _ev_side_disconnect(stack, new_id_tag())
    # The cable stays locked in the socket: the bench's lock never reads unlocked.
    with pytest.raises(ControlError, match="timed out"):
        await stack.bench_request("wait_for", connector=1, field="locked", value=False, timeout=2)


async def test_tc_005_3_ev_side_disconnected_transaction_continues(charger):
    stack = await charger(ocpp={"StopTransactionOnEVSideDisconnect": False})
    tag = new_id_tag()
    await plug_and_charge(stack, id_tag=tag)
    start = await payload_of(stack, "StartTransaction")
    since = await last_seq(stack)
    await stack.bench_request("unplug", connector=1)
    await wait_status(stack, 1, "SuspendedEV", since)
    await expect_none(stack, "StopTransaction", since, within=1.0)
    assert await actions(stack, since) == ["StatusNotification:1:SuspendedEV"]
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=False, timeout=5)

    replug = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=32)
    await wait_status(stack, 1, "Charging", replug)
    assert await actions(stack, replug) == ["StatusNotification:1:Charging"]
    await _charge_for_a_while(stack)

    stop_since = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)
    await wait_status(stack, 1, "Finishing", stop_since)
    assert await actions(stack, stop_since) == ["StopTransaction", "StatusNotification:1:Finishing"]
    stop = await payload_of(stack, "StopTransaction", stop_since)
    _check_stop(stop, start, (await transaction(stack))["transaction_id"], "Local", tag)
    assert len(await messages(stack, "StartTransaction")) == 1


async def test_tc_068_stop_transaction_idtag_matches(charger):
    stack = await charger()
    tag = new_id_tag()
    await plug_and_charge(stack, id_tag=tag)
    start = await payload_of(stack, "StartTransaction")
    await _charge_for_a_while(stack)
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)
    await wait_status(stack, 1, "Finishing", since)
    # The card that started the transaction ends it without asking the backend again.
    assert await actions(stack, since) == ["StopTransaction", "StatusNotification:1:Finishing"]
    stop = await payload_of(stack, "StopTransaction", since)
    _check_stop(stop, start, (await transaction(stack))["transaction_id"], "Local", tag)
    assert stop["meterStop"] >= start["meterStart"] + 10
    assert (await stack.bench_request("status"))["connectors"][0]["contactor_closed"] is False


async def _fleet(csms, parent: str, *tags: str) -> None:
    for tag in tags:
        await csms.request("set_id_tag", id_tag=tag, status="Accepted", parent_id_tag=parent)


async def test_tc_069_stop_transaction_parent_idtag_matches(csms, charger):
    stack = await charger()
    first, second = new_id_tag(), new_id_tag()
    await _fleet(csms, "FLEET-" + new_id_tag(), first, second)
    await plug_and_charge(stack, id_tag=first)
    start = await payload_of(stack, "StartTransaction")
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=second)
    await wait_status(stack, 1, "Finishing", since)
    # A different card: the charge point must learn its parent first, then stop.
    assert await actions(stack, since) == ["Authorize", "StopTransaction", "StatusNotification:1:Finishing"]
    assert await payload_of(stack, "Authorize", since) == {"idTag": second}
    stop = await payload_of(stack, "StopTransaction", since)
    _check_stop(stop, start, (await transaction(stack))["transaction_id"], "Local", second)
    assert (await transaction(stack))["stop_id_tag"] == second


async def test_tc_069_different_parent_idtag_does_not_stop(csms, charger):
    stack = await charger()
    owner, stranger, loner = new_id_tag(), new_id_tag(), new_id_tag()
    await _fleet(csms, "FLEET-" + new_id_tag(), owner)
    await _fleet(csms, "FLEET-" + new_id_tag(), stranger)
    await plug_and_charge(stack, id_tag=owner)
    since = await last_seq(stack)
    # A card of another fleet, and a card with no parent at all (unknown: Accepted).
    await stack.bench_request("tap", uid=stranger)
    await wait_for(stack, "Authorize", since=since, timeout=5)
    await stack.bench_request("tap", uid=loner)
    await wait_for(stack, "Authorize", count=2, since=since, timeout=5)
    await expect_none(stack, "StopTransaction", since, within=1.0)
    assert await actions(stack, since) == ["Authorize", "Authorize"]
    assert [m["payload"]["idTag"] for m in await messages(stack, "Authorize", since)] == [stranger, loner]
    assert (await stack.bench_request("status"))["connectors"][0]["contactor_closed"] is True
    record = await transaction(stack)
    assert not record["stopped"]


# ---------------------------------------------------------------- module 10: authorize invalid


async def test_tc_023_4_authorize_invalid_local_plugin_first(csms, charger):
    stack = await charger()
    tag = new_id_tag()
    await csms.request("set_id_tag", id_tag=tag, status="Invalid")
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=32)
    await wait_status(stack, 1, "Preparing", since)
    await stack.bench_request("tap", uid=tag)
    await wait_for(stack, "Authorize", since=since, timeout=5)
    await expect_none(stack, "StartTransaction", since, within=1.0)
    # The EV stays plugged in and waits for a valid card; no energy is offered.
    assert await actions(stack, since) == ["StatusNotification:1:Preparing", "Authorize"]
    bench = (await stack.bench_request("status"))["connectors"][0]
    assert bench["contactor_closed"] is False and bench["offer_a"] == 0
    unplug = await last_seq(stack)
    await stack.bench_request("unplug", connector=1)
    await wait_status(stack, 1, "Available", unplug)
    assert await actions(stack, unplug) == ["StatusNotification:1:Available"]
    assert await ledger(stack) == []


async def test_tc_023_4_authorize_blocked_local_identification_first(csms, charger):
    stack = await charger()
    tag = new_id_tag()
    await csms.request("set_id_tag", id_tag=tag, status="Blocked", parent_id_tag="FLEET-" + new_id_tag())
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)
    await wait_for(stack, "Authorize", since=since, timeout=5)
    # A refused card does not reserve the connector: an EV arriving now finds it free.
    plug = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=32)
    await wait_status(stack, 1, "Preparing", plug)
    await expect_none(stack, "StartTransaction", since, within=1.0)
    assert await actions(stack, since) == ["Authorize", "StatusNotification:1:Preparing"]
    assert await ledger(stack) == []


# ---------------------------------------------------------------- two connectors


async def test_two_connectors_charging_at_once(charger):
    stack = await charger(connectors=2, ocpp={"MeterValueSampleInterval": 1})
    card_1, card_2 = new_id_tag(), new_id_tag()
    await plug_and_charge(stack, connector=1, id_tag=card_1, max_current=16)
    await plug_and_charge(stack, connector=2, id_tag=card_2, max_current=32)
    starts = {m["payload"]["connectorId"]: m["payload"] for m in await messages(stack, "StartTransaction")}
    assert sorted(starts) == [1, 2]
    assert starts[1]["idTag"] == card_1 and starts[2]["idTag"] == card_2
    records = {r["connector_id"]: r for r in await ledger(stack)}
    tx_1, tx_2 = records[1]["transaction_id"], records[2]["transaction_id"]
    assert tx_1 != tx_2
    await wait_energy(stack, 1, starts[1]["meterStart"] + 5)
    await wait_energy(stack, 2, starts[2]["meterStart"] + 10)
    sampled = await wait_for(stack, "MeterValues", count=4, timeout=10)
    for connector, tx in ((1, tx_1), (2, tx_2)):
        found = [m for m in sampled if m["connectorId"] == connector]
        assert found and all(m["transactionId"] == tx for m in found), (connector, sampled)

    # The second card ends only its own transaction.
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=card_2)
    await wait_status(stack, 2, "Finishing", since)
    stop_2 = await payload_of(stack, "StopTransaction", since)
    _check_stop(stop_2, starts[2], tx_2, "Local", card_2)
    assert "StatusNotification:1:Finishing" not in await actions(stack, since)
    assert (await stack.bench_request("status"))["connectors"][0]["contactor_closed"] is True
    assert not (await transaction(stack, tx_1))["stopped"]

    # Connector 1 keeps charging, then its own card ends it.
    meter_1 = (await stack.bench_request("status"))["connectors"][0]["energy_wh"]
    await wait_energy(stack, 1, meter_1 + 3)
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=card_1)
    await wait_status(stack, 1, "Finishing", since)
    stop_1 = await payload_of(stack, "StopTransaction", since)
    _check_stop(stop_1, starts[1], tx_1, "Local", card_1)

    records = {r["connector_id"]: r for r in await ledger(stack)}
    for connector, card in ((1, card_1), (2, card_2)):
        record = records[connector]
        assert record["stopped"] and record["id_tag"] == card and record["energy_wh"] > 0
        assert record["meter_values"], f"no meter values for connector {connector}'s transaction"
    assert await anomalies(stack) == []


# ---------------------------------------------------------------- module 09: meter values


def _values(meter_value: dict, measurand: str) -> list[dict]:
    return [v for v in meter_value["sampledValue"] if v.get("measurand", "Energy.Active.Import.Register") == measurand]


async def test_tc_070_sampled_meter_values(charger):
    stack = await charger(ocpp={"MeterValueSampleInterval": 2, "MeterValuesSampledData": SAMPLED})
    tag = new_id_tag()
    charging = await plug_and_charge(stack, id_tag=tag, max_current=32)
    start = await payload_of(stack, "StartTransaction")
    tx = (await transaction(stack))["transaction_id"]
    samples = await wait_for(stack, "MeterValues", count=3, since=charging, timeout=10)

    energies = []
    stamps = []
    for message in samples:
        assert message["connectorId"] == 1
        assert message["transactionId"] == tx
        assert len(message["meterValue"]) == 1
        meter_value = message["meterValue"][0]
        stamps.append(_recent(meter_value["timestamp"]))
        for value in meter_value["sampledValue"]:
            assert value.get("context") == "Sample.Periodic", value
        measurands = {v.get("measurand", "Energy.Active.Import.Register") for v in meter_value["sampledValue"]}
        assert measurands == set(SAMPLED.split(","))
        (energy,) = _values(meter_value, "Energy.Active.Import.Register")
        assert energy.get("unit", "Wh") == "Wh" and energy.get("phase") is None
        energies.append(float(energy["value"]))
        currents = _values(meter_value, "Current.Import")
        assert sorted(v["phase"] for v in currents) == ["L1", "L2", "L3"]
        assert all(v["unit"] == "A" and abs(float(v["value"]) - 32) < 1 for v in currents), currents
        voltages = _values(meter_value, "Voltage")
        assert sorted(v["phase"][:2] for v in voltages) == ["L1", "L2", "L3"], voltages
        assert all(v["unit"] == "V" and 200 < float(v["value"]) < 260 for v in voltages), voltages
        (power,) = _values(meter_value, "Power.Active.Import")
        assert power["unit"] in ("W", "kW") and float(power["value"]) > 0
    assert energies[0] >= start["meterStart"]
    assert all(b > a for a, b in zip(energies, energies[1:])), energies
    gaps = [(b - a).total_seconds() for a, b in zip(stamps, stamps[1:])]
    assert all(1.0 <= gap <= 3.5 for gap in gaps), f"samples {gaps} s apart with MeterValueSampleInterval 2"
    assert abs(sum(gaps) / len(gaps) - 2.0) <= 0.3, f"samples {gaps} s apart on average"


    since = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)
    await wait_status(stack, 1, "Finishing", since)
    stop = await payload_of(stack, "StopTransaction", since)
    _check_stop(stop, start, tx, "Local", tag)
    data = stop.get("transactionData")
    assert data, f"StopTransaction without transactionData: {stop}"
    contexts = {v.get("context") for mv in data for v in mv["sampledValue"]}
    assert {"Transaction.Begin", "Transaction.End"} <= contexts, data
    by_context = {
        v["context"]: float(v["value"])
        for mv in data
        for v in mv["sampledValue"]
        if v.get("measurand", "Energy.Active.Import.Register") == "Energy.Active.Import.Register"
    }
    assert by_context["Transaction.Begin"] == start["meterStart"]
    assert by_context["Transaction.End"] == stop["meterStop"]
    assert stop["meterStop"] >= energies[-1]

    record = await transaction(stack)
    sent = await messages(stack, "MeterValues")
    assert len(record["meter_values"]) == sum(len(m["payload"]["meterValue"]) for m in sent)
    assert record["transaction_data"] == data
    assert await anomalies(stack) == []


async def test_tc_070_meter_values_stop_with_the_transaction(charger):
    stack = await charger(ocpp={"MeterValueSampleInterval": 1})
    tag = new_id_tag()
    charging = await plug_and_charge(stack, id_tag=tag)
    await wait_for(stack, "MeterValues", count=2, since=charging, timeout=6)
    reply = await call(stack, "RemoteStopTransaction", {"transactionId": (await transaction(stack))["transaction_id"]})
    assert reply == {"status": "Accepted"}
    stopped = await _seq_of(stack, "StopTransaction")
    # Sampling belongs to the transaction: nothing after its StopTransaction.
    await expect_none(stack, "MeterValues", stopped, within=2.5)


async def test_sampling_every_second_reads_the_meter_once_per_sample_not_twice(charger):
    """The poll that watches the meter takes a sample's reading as its own: on an RS-485
    line at 9600 baud each SDM630 reading takes about 175 ms of the line."""
    stack = await charger(ocpp={"MeterValueSampleInterval": 1, "MeterValuesSampledData": SAMPLED})
    charging = await plug_and_charge(stack, id_tag=new_id_tag())
    await wait_for(stack, "MeterValues", count=2, since=charging, timeout=10)
    since = await last_seq(stack)
    before = (await stack.bench_request("status"))["connectors"][0]["meter_requests"]
    await asyncio.sleep(6)
    read = (await stack.bench_request("status"))["connectors"][0]["meter_requests"] - before
    sampled = len(await messages(stack, "MeterValues", since))
    assert sampled >= 4  # sampling ran all along (one reading of the bench's SDM630 is one request)
    assert read <= 8, f"{read} meter requests in 6 s for {sampled} MeterValues"


async def _seq_of(stack, action: str) -> int:
    """The seq of the latest ``action``, waiting for one to arrive."""
    reply = await stack.csms.request("wait_for", cp=stack.cp_id, action=action, timeout=10)
    return int(reply["messages"][-1]["seq"])


async def test_stop_transaction_carries_clock_aligned_values_kept_for_it(charger):
    # StopTxnAlignedData: clock-aligned values go into the StopTransaction only (none are
    # sent as MeterValues here, as MeterValuesAlignedData is empty).
    stack = await charger(ocpp={
        "ClockAlignedDataInterval": 2, "MeterValuesAlignedData": "", "StopTxnAlignedData": "Energy.Active.Import.Register",
    })
    tag = new_id_tag()
    await plug_and_charge(stack, id_tag=tag)
    start = await payload_of(stack, "StartTransaction")
    await wait_energy(stack, 1, start["meterStart"] + 5 * 6)  # about 5 s at 22 kW
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)
    stop = (await wait_for(stack, "StopTransaction", since=since))[0]
    assert await messages(stack, "MeterValues") == []
    data = stop["transactionData"]
    clock = [d for d in data if d["sampledValue"][0]["context"] == "Sample.Clock"]
    assert len(clock) >= 2
    for entry in clock:
        moment = parse_time(entry["timestamp"])
        assert moment.microsecond == 0 and moment.second % 2 == 0, entry["timestamp"]
    energies = [int(d["sampledValue"][0]["value"]) for d in data]
    assert energies == sorted(energies)
    assert data[0]["sampledValue"][0]["context"] == "Transaction.Begin"
    assert data[-1]["sampledValue"][0]["context"] == "Transaction.End"
