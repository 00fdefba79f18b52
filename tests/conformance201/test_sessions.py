"""OCPP 2.0.1 Core cases over the real agent and the test CSMS: boot (B01/B02), the device
model (B05-B07), local and remote transactions (E, F), availability (G) and DataTransfer
(P01). Every test ends by checking that the CSMS found nothing against the official
2.0.1 schemas in what the charger sent."""

from __future__ import annotations

from typing import Any

from tests.conformance.helpers import new_id_tag
from tests.conformance201.helpers import (
    V201,
    call,
    events,
    last_seq,
    ledger,
    messages,
    schema_violations,
    wait_connector,
    wait_event,
    wait_for,
)


async def _clean(stack: Any) -> None:
    assert await schema_violations(stack) == []


def _variable(component: str, variable: str, **extra: Any) -> dict[str, Any]:
    return {"component": {"name": component}, "variable": {"name": variable}, **extra}


async def test_tc_b_01_cs_cold_boot_accepted(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    boot = (await messages(stack, "BootNotification"))[0]["payload"]
    assert boot["reason"] == "PowerUp"
    assert boot["chargingStation"]["serialNumber"] == "SIM-0001"
    status = (await messages(stack, "StatusNotification"))[0]["payload"]
    assert (status["evseId"], status["connectorId"], status["connectorStatus"]) == (1, 1, "Available")
    await _clean(stack)


async def test_tc_b_02_cs_cold_boot_pending_then_accepted(charger, csms) -> None:  # type: ignore[no-untyped-def]
    await csms.request("set_boot", status="Pending", interval=1)
    stack = await charger(backend=V201, boot=False)
    await wait_for(stack, "BootNotification", count=2, timeout=20)
    assert await messages(stack, "StatusNotification") == []  # nothing but the boot while Pending
    await csms.request("set_boot", status="Accepted", interval=300)
    await wait_connector(stack, 1, "Available", timeout=20)
    await _clean(stack)


async def test_tc_b_06_cs_and_b_32_to_b_34_get_variables(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    answer = await call(stack, "GetVariables", {"getVariableData": [
        _variable("OCPPCommCtrlr", "HeartbeatInterval"),
        _variable("NoSuchCtrlr", "HeartbeatInterval"),
        _variable("OCPPCommCtrlr", "NoSuchVariable"),
        _variable("OCPPCommCtrlr", "HeartbeatInterval", attributeType="MaxSet"),
    ]})
    results = answer["getVariableResult"]
    assert [r["attributeStatus"] for r in results] == [
        "Accepted", "UnknownComponent", "UnknownVariable", "NotSupportedAttributeType"]
    assert results[0]["attributeValue"] == "300"  # the CSMS's interval, adopted at boot
    await _clean(stack)


async def test_tc_b_09_cs_and_b_39_cs_set_variables(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    answer = await call(stack, "SetVariables", {"setVariableData": [
        _variable("OCPPCommCtrlr", "HeartbeatInterval", attributeValue="2"),
        _variable("OCPPCommCtrlr", "HeartbeatInterval", attributeValue="soon"),
        _variable("DeviceDataCtrlr", "ItemsPerMessage", attributeValue="5"),
    ]})
    # The last names no instance: the variable exists only per message (GetReport, ...).
    statuses = [r["attributeStatus"] for r in answer["setVariableResult"]]
    assert statuses[:2] == ["Accepted", "Rejected"]
    since = await last_seq(stack)
    await wait_for(stack, "Heartbeat", since=since, timeout=6)  # the new interval applies at once
    got = await call(stack, "GetVariables", {"getVariableData": [_variable("OCPPCommCtrlr", "HeartbeatInterval")]})
    assert got["getVariableResult"][0]["attributeValue"] == "2"
    await _clean(stack)


async def _report(stack: Any, base: str, request_id: int) -> list[dict[str, Any]]:
    """GetBaseReport; every NotifyReport page of its answer, in order."""
    since = await last_seq(stack)
    answer = await call(stack, "GetBaseReport", {"requestId": request_id, "reportBase": base})
    assert answer["status"] == "Accepted"
    pages = await wait_for(stack, "NotifyReport", since=since, timeout=10)
    while pages[-1].get("tbc"):
        pages = await wait_for(stack, "NotifyReport", count=len(pages) + 1, since=since, timeout=10)
    assert [p["seqNo"] for p in pages] == list(range(len(pages)))
    assert all(p["requestId"] == request_id for p in pages)
    return [d for p in pages for d in p.get("reportData", [])]


async def test_tc_b_12_to_b_14_cs_get_base_reports(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    full = await _report(stack, "FullInventory", 7)
    names = {(d["component"]["name"], d["variable"]["name"]) for d in full}
    assert {("OCPPCommCtrlr", "HeartbeatInterval"), ("TxCtrlr", "TxStartPoint"), ("EVSE", "AvailabilityState"),
            ("AuthCtrlr", "LocalPreAuthorize"), ("ChargingStation", "AvailabilityState")} <= names
    configuration = await _report(stack, "ConfigurationInventory", 8)
    assert configuration and all(any(a.get("mutability", "ReadWrite") != "ReadOnly" for a in d["variableAttribute"])
                                 for d in configuration)
    assert len(configuration) < len(full)
    summary = await _report(stack, "SummaryInventory", 9)
    assert ("EVSE", "AvailabilityState") in {(d["component"]["name"], d["variable"]["name"]) for d in summary}
    await _clean(stack)


async def test_tc_e_03_cs_cable_plugin_first_and_e_06_cs_local_stop(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    tag = new_id_tag()
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    await wait_connector(stack, 1, "Occupied", since)
    await stack.bench_request("tap", uid=tag)
    started = await wait_event(stack, "Started", since)
    assert started["idToken"] == {"idToken": tag, "type": "ISO14443"}
    assert started["evse"] == {"id": 1, "connectorId": 1}
    charging = await wait_event(stack, "Updated", since, trigger="ChargingStateChanged")
    assert charging["transactionInfo"]["chargingState"] == "Charging"
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=True, timeout=15)
    await stack.bench_request("tap", uid=tag)
    ended = await wait_event(stack, "Ended", since)
    assert ended["triggerReason"] == "StopAuthorized"
    assert ended["transactionInfo"]["stoppedReason"] == "Local"
    tx = started["transactionInfo"]["transactionId"]
    same = [e for e in await events(stack, since) if e["transactionInfo"]["transactionId"] == tx]
    assert [e["seqNo"] for e in same] == list(range(len(same)))  # gapless, from 0
    assert not any(e.get("offline") for e in same)
    booked = next(t for t in await ledger(stack) if t["transaction_id"] == tx)
    assert booked["stopped"] and booked["meter_stop"] >= booked["meter_start"]
    await _clean(stack)


async def test_tc_f_03_cs_remote_start_first_and_f_08_cs_remote_stop(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    since = await last_seq(stack)
    tag = new_id_tag()
    answer = await call(stack, "RequestStartTransaction", {
        "idToken": {"idToken": tag, "type": "Central"}, "remoteStartId": 42, "evseId": 1})
    assert answer["status"] == "Accepted"
    await stack.bench_request("plug", connector=1, max_current=16)
    started = await wait_event(stack, "Started", since)
    assert started["triggerReason"] == "RemoteStart"
    assert started["transactionInfo"]["remoteStartId"] == 42
    tx = started["transactionInfo"]["transactionId"]
    refused = await call(stack, "RequestStopTransaction", {"transactionId": "not-a-transaction"})
    assert refused["status"] == "Rejected"  # TC_F_09_CS
    stopped = await call(stack, "RequestStopTransaction", {"transactionId": tx})
    assert stopped["status"] == "Accepted"
    ended = await wait_event(stack, "Ended", since)
    assert (ended["triggerReason"], ended["transactionInfo"]["stoppedReason"]) == ("RemoteStop", "Remote")
    await _clean(stack)


async def test_tc_e_28_cs_and_e_32_cs_get_transaction_status(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    unknown = await call(stack, "GetTransactionStatus", {"transactionId": "no-such-transaction"})
    assert unknown == {"messagesInQueue": False}
    since = await last_seq(stack)
    tag = new_id_tag()
    await stack.bench_request("plug", connector=1, max_current=16)
    await stack.bench_request("tap", uid=tag)
    started = await wait_event(stack, "Started", since)
    tx = started["transactionInfo"]["transactionId"]
    running = await call(stack, "GetTransactionStatus", {"transactionId": tx})
    assert running["ongoingIndicator"] is True
    await stack.bench_request("unplug", connector=1)
    await wait_event(stack, "Ended", since)
    ended = await call(stack, "GetTransactionStatus", {"transactionId": tx})
    assert ended == {"messagesInQueue": False, "ongoingIndicator": False}
    await _clean(stack)


async def test_tc_g_03_cs_and_g_04_cs_change_availability_evse(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    since = await last_seq(stack)
    answer = await call(stack, "ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 1}})
    assert answer["status"] == "Accepted"
    await wait_connector(stack, 1, "Unavailable", since)
    answer = await call(stack, "ChangeAvailability", {"operationalStatus": "Operative", "evse": {"id": 1}})
    assert answer["status"] == "Accepted"
    await wait_connector(stack, 1, "Available", since)
    unknown = await call(stack, "ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 9}})
    assert unknown["status"] == "Rejected"
    await _clean(stack)


async def test_tc_f_20_cs_trigger_heartbeat_and_status(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    since = await last_seq(stack)
    assert (await call(stack, "TriggerMessage", {"requestedMessage": "Heartbeat"}))["status"] == "Accepted"
    await wait_for(stack, "Heartbeat", since=since, timeout=5)
    answer = await call(stack, "TriggerMessage", {"requestedMessage": "StatusNotification", "evse": {"id": 1,
                                                                                                  "connectorId": 1}})
    assert answer["status"] == "Accepted"
    await wait_connector(stack, 1, "Available", since)
    none = await call(stack, "TriggerMessage", {"requestedMessage": "TransactionEvent", "evse": {"id": 1}})
    assert none["status"] == "Rejected"  # no transaction to tell of
    since = await last_seq(stack)
    for message in ("FirmwareStatusNotification", "LogStatusNotification"):  # TC_F_18_CS, TC_F_15_CS
        assert (await call(stack, "TriggerMessage", {"requestedMessage": message}))["status"] == "Accepted"
        assert (await wait_for(stack, message, since=since, timeout=5))[0]["status"] == "Idle"
    unknown = await call(stack, "TriggerMessage", {"requestedMessage": "PublishFirmwareStatusNotification"})
    assert unknown["status"] == "NotImplemented"
    await _clean(stack)


async def test_tc_p_01_cs_data_transfer_unknown_vendor(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    # TC_P_03_CS: customData is accepted on any message, here a DataTransfer.
    answer = await call(stack, "DataTransfer", {"vendorId": "com.example", "messageId": "x", "data": {"a": 1},
                                                "customData": {"vendorId": "com.example", "note": 1}})
    assert answer["status"] == "UnknownVendorId"
    await _clean(stack)


async def test_tc_f_11_cs_and_f_13_cs_trigger_meter_values_and_transaction_event(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    await stack.bench_request("tap", uid=new_id_tag())
    started = await wait_event(stack, "Started", since)
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=True, timeout=15)
    since = await last_seq(stack)
    assert (await call(stack, "TriggerMessage", {"requestedMessage": "MeterValues", "evse": {"id": 1}}))[
        "status"] == "Accepted"
    values = (await wait_for(stack, "MeterValues", since=since, timeout=10))[0]
    assert values["evseId"] == 1 and values["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"
    assert (await call(stack, "TriggerMessage", {"requestedMessage": "TransactionEvent", "evse": {"id": 1}}))[
        "status"] == "Accepted"
    triggered = await wait_event(stack, "Updated", since, trigger="Trigger")
    assert triggered["transactionInfo"]["transactionId"] == started["transactionInfo"]["transactionId"]
    assert triggered["meterValue"][0]["sampledValue"]
    # TC_F_13_CS's validations: the EVSE and where the transaction stands.
    assert triggered["transactionInfo"]["chargingState"] == "Charging" and triggered["evse"]["id"] == 1
    await _clean(stack)
