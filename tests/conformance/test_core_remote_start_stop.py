"""Core modules 05, 11 and 12 (remote start and stop): TC_010, TC_011_1, TC_011_2, TC_012,
TC_023_5, TC_026, TC_027 and TC_028.

The backend sends RemoteStartTransaction / RemoteStopTransaction through the test CSMS;
each test asserts the charge point's answer and what it sent afterwards.
"""

from __future__ import annotations

from .helpers import (
    actions,
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


async def _contactor_closed(stack, connector: int = 1) -> bool:
    return bool((await stack.bench_request("status"))["connectors"][connector - 1]["contactor_closed"])


# ---------------------------------------------------------------- module 05: remote actions


async def test_tc_010_remote_start_cable_plugged_in_first(charger):
    stack = await charger()
    tag = new_id_tag()
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=32)
    await wait_status(stack, 1, "Preparing", since)
    assert await call(stack, "RemoteStartTransaction", {"idTag": tag, "connectorId": 1}) == {"status": "Accepted"}
    await wait_status(stack, 1, "Charging", since)
    # AuthorizeRemoteTxRequests is false: the backend's idTag is started without an Authorize.
    assert await actions(stack, since) == [
        "StatusNotification:1:Preparing",
        "StartTransaction",
        "StatusNotification:1:Charging",
    ]
    start = await payload_of(stack, "StartTransaction", since)
    assert start["connectorId"] == 1 and start["idTag"] == tag
    assert isinstance(start["meterStart"], int) and start["meterStart"] >= 0
    parse_time(start["timestamp"])
    await wait_energy(stack, 1, start["meterStart"] + 5)
    record = await transaction(stack)
    assert record["id_tag"] == tag and record["connector_id"] == 1 and not record["stopped"]


async def test_tc_011_1_remote_start_charging_session_remote_start_first(charger):
    stack = await charger()
    tag = new_id_tag()
    since = await last_seq(stack)
    assert await call(stack, "RemoteStartTransaction", {"idTag": tag, "connectorId": 1}) == {"status": "Accepted"}
    await wait_status(stack, 1, "Preparing", since)
    plug = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=32)
    await wait_status(stack, 1, "Charging", plug)
    assert await actions(stack, since) == [
        "StatusNotification:1:Preparing",
        "StartTransaction",
        "StatusNotification:1:Charging",
    ]
    start = await payload_of(stack, "StartTransaction", since)
    assert start["connectorId"] == 1 and start["idTag"] == tag
    await wait_energy(stack, 1, start["meterStart"] + 5)


async def test_tc_011_2_remote_start_time_out(charger):
    stack = await charger(ocpp={"ConnectionTimeOut": 3})
    tag = new_id_tag()
    since = await last_seq(stack)
    assert await call(stack, "RemoteStartTransaction", {"idTag": tag, "connectorId": 1}) == {"status": "Accepted"}
    preparing = await wait_status(stack, 1, "Preparing", since)
    available = await wait_status(stack, 1, "Available", preparing, timeout=10)
    assert await actions(stack, since) == ["StatusNotification:1:Preparing", "StatusNotification:1:Available"]
    # The agent stamps each status when it changed: immune to delays on the way to the backend.
    stamps = {m["seq"]: parse_time(m["payload"]["timestamp"]) for m in await messages(stack, "StatusNotification", since)}
    waited = (stamps[available] - stamps[preparing]).total_seconds()
    assert 2.0 <= waited <= 6.0, f"Preparing lasted {waited:.1f} s with ConnectionTimeOut 3 s"
    # The lapsed remote start does not start a transaction for an EV arriving later.
    plug = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=32)
    await wait_status(stack, 1, "Preparing", plug)
    await expect_none(stack, "StartTransaction", since, within=1.0)
    assert await ledger(stack) == []


async def test_tc_012_remote_stop_charging_session(charger):
    stack = await charger()
    tag = new_id_tag()
    await plug_and_charge(stack, id_tag=tag)
    start = await payload_of(stack, "StartTransaction")
    tx = (await transaction(stack))["transaction_id"]
    await wait_energy(stack, 1, start["meterStart"] + 5)
    since = await last_seq(stack)
    assert await call(stack, "RemoteStopTransaction", {"transactionId": tx}) == {"status": "Accepted"}
    await wait_status(stack, 1, "Finishing", since)
    assert await actions(stack, since) == ["StopTransaction", "StatusNotification:1:Finishing"]
    stop = await payload_of(stack, "StopTransaction", since)
    assert stop["transactionId"] == tx
    assert stop["reason"] == "Remote"
    assert isinstance(stop["meterStop"], int) and stop["meterStop"] >= start["meterStart"] + 5
    assert parse_time(stop["timestamp"]) >= parse_time(start["timestamp"])
    assert not await _contactor_closed(stack)
    unplug = await last_seq(stack)
    await stack.bench_request("unplug", connector=1)
    await wait_status(stack, 1, "Available", unplug)
    record = await transaction(stack)
    assert record["stopped"] and record["reason"] == "Remote" and record["energy_wh"] > 0


# ---------------------------------------------------------------- module 11: remote non-happy


async def test_tc_023_5_remote_start_authorize_invalid(csms, charger):
    stack = await charger(ocpp={"AuthorizeRemoteTxRequests": True})
    invalid, valid = new_id_tag(), new_id_tag()
    await csms.request("set_id_tag", id_tag=invalid, status="Invalid")
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=32)
    await wait_status(stack, 1, "Preparing", since)
    # The request is accepted; the idTag is checked with Authorize before any transaction.
    assert await call(stack, "RemoteStartTransaction", {"idTag": invalid, "connectorId": 1}) == {"status": "Accepted"}
    assert await wait_for(stack, "Authorize", since=since, timeout=5) == [{"idTag": invalid}]
    await expect_none(stack, "StartTransaction", since, within=1.0)
    assert await actions(stack, since) == ["StatusNotification:1:Preparing", "Authorize"]
    assert not await _contactor_closed(stack)
    assert await ledger(stack) == []

    # The EV still waits, and a valid idTag starts on the same connector.
    again = await last_seq(stack)
    assert await call(stack, "RemoteStartTransaction", {"idTag": valid, "connectorId": 1}) == {"status": "Accepted"}
    await wait_status(stack, 1, "Charging", again)
    assert await actions(stack, again) == ["Authorize", "StartTransaction", "StatusNotification:1:Charging"]
    assert (await payload_of(stack, "StartTransaction", again))["idTag"] == valid


# ---------------------------------------------------------------- module 12: remote non-happy


async def test_tc_026_remote_start_rejected_connector_unavailable(charger):
    stack = await charger()
    since = await last_seq(stack)
    assert await call(stack, "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}) == {"status": "Accepted"}
    await wait_status(stack, 1, "Unavailable", since)
    remote = await last_seq(stack)
    reply = await call(stack, "RemoteStartTransaction", {"idTag": new_id_tag(), "connectorId": 1})
    assert reply == {"status": "Rejected"}
    await stack.bench_request("plug", connector=1, max_current=32)
    await expect_none(stack, "StartTransaction", since, within=1.0)
    assert await actions(stack, remote) == []
    assert not await _contactor_closed(stack)


async def test_tc_026_remote_start_rejected_connector_occupied(charger):
    stack = await charger()
    owner = new_id_tag()
    await plug_and_charge(stack, id_tag=owner)
    since = await last_seq(stack)
    reply = await call(stack, "RemoteStartTransaction", {"idTag": new_id_tag(), "connectorId": 1})
    assert reply == {"status": "Rejected"}
    await expect_none(stack, "StartTransaction", since, within=1.0)
    assert await actions(stack, since) == []
    assert await _contactor_closed(stack)
    (record,) = await ledger(stack)
    assert record["id_tag"] == owner and not record["stopped"]


async def test_tc_027_remote_start_connector_id_zero_rejected(charger):
    stack = await charger()
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=32)
    await wait_status(stack, 1, "Preparing", since)
    remote = await last_seq(stack)
    # connectorId SHALL be > 0 (OCPP 1.6, 6.33): 0 is refused, not taken as "any connector".
    reply = await call(stack, "RemoteStartTransaction", {"idTag": new_id_tag(), "connectorId": 0})
    assert reply == {"status": "Rejected"}
    await expect_none(stack, "StartTransaction", remote, within=1.0)
    assert await actions(stack, remote) == []
    assert await ledger(stack) == []


async def test_tc_028_remote_stop_transaction_rejected(charger):
    stack = await charger()
    # No transaction at all.
    assert await call(stack, "RemoteStopTransaction", {"transactionId": 987654}) == {"status": "Rejected"}
    # A transaction runs, but the backend names another one.
    await plug_and_charge(stack)
    tx = (await transaction(stack))["transaction_id"]
    since = await last_seq(stack)
    assert await call(stack, "RemoteStopTransaction", {"transactionId": tx + 1000}) == {"status": "Rejected"}
    await expect_none(stack, "StopTransaction", since, within=1.0)
    assert await actions(stack, since) == []
    assert await _contactor_closed(stack)
    assert not (await transaction(stack))["stopped"]
