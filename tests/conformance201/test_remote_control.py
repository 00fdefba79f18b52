"""OCPP 2.0.1 block F (RemoteControl) as the OCA test tool runs it against a charging
station: F01/F02 RequestStartTransaction (cable first, remote start first, the cable
plug-in timeout), F05 UnlockConnector on a socket outlet with a cable lock, F06
TriggerMessage for all EVSEs, for one, for a message that has no EVSE, and for a message
the charger does not implement.

Written from the case list (`shared/OCPP201-TESTCASES.md`), OCPP 2.0.1 Part 2 (F01-F06)
and the OCTT steps; F_02, 05, 08, 09, 11, 13, 15, 18 and 20 are in `test_sessions.py` and
`test_availability.py`. Each test ends with no schema violation in what the charger sent."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conformance.helpers import expect_none, new_id_tag
from tests.conformance201.helpers import (
    V201,
    call,
    events,
    last_seq,
    messages,
    schema_violations,
    wait_connector,
    wait_event,
    wait_for,
)


def _token(tag: str) -> dict[str, str]:
    return {"idToken": tag, "type": "ISO14443"}


async def _remote_start(stack: Any, tag: str, remote_start_id: int, evse: int = 1) -> str:
    answer = await call(stack, "RequestStartTransaction",
                        {"idToken": _token(tag), "remoteStartId": remote_start_id, "evseId": evse})
    assert "error" not in answer, answer
    return str(answer["status"])


async def _trigger(stack: Any, message: str, evse: dict[str, int] | None = None) -> str:
    payload: dict[str, Any] = {"requestedMessage": message}
    if evse is not None:
        payload["evse"] = evse
    answer = await call(stack, "TriggerMessage", payload)
    assert "error" not in answer, answer
    return str(answer["status"])


async def _charging(stack: Any, connector: int) -> str:
    """Plug in, present a new card, wait for the energy to flow; return the transactionId."""
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=connector, max_current=16)
    await wait_connector(stack, connector, "Occupied", since)
    await stack.bench_request("tap", uid=new_id_tag())
    started = await wait_event(stack, "Started", since)
    await stack.bench_request("wait_for", connector=connector, field="contactor_closed", value=True, timeout=15)
    await wait_event(stack, "Updated", since, trigger="ChargingStateChanged")
    return str(started["transactionInfo"]["transactionId"])


async def test_tc_f_01_cs_remote_start_cable_plugin_first(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    await wait_connector(stack, 1, "Occupied", since)
    tag = new_id_tag()
    assert await _remote_start(stack, tag, 7) == "Accepted"
    started = await wait_event(stack, "Started", since)
    assert started["triggerReason"] == "RemoteStart"
    assert started["transactionInfo"]["remoteStartId"] == 7
    assert started["idToken"] == _token(tag)
    assert started["evse"]["id"] == 1
    charging = await wait_event(stack, "Updated", since, trigger="ChargingStateChanged")
    assert charging["transactionInfo"]["chargingState"] == "Charging"
    assert charging["transactionInfo"]["transactionId"] == started["transactionInfo"]["transactionId"]
    assert await schema_violations(stack) == []


async def test_tc_f_03_cs_remote_start_first_authorize_remote_start_false(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp={"AuthorizeRemoteTxRequests": False})
    got = await call(stack, "GetVariables", {"getVariableData": [
        {"component": {"name": "AuthCtrlr"}, "variable": {"name": "AuthorizeRemoteStart"}}]})
    assert got["getVariableResult"][0]["attributeValue"] == "false"
    since = await last_seq(stack)
    tag = new_id_tag()
    assert await _remote_start(stack, tag, 8) == "Accepted"
    await stack.bench_request("plug", connector=1, max_current=16)
    started = await wait_event(stack, "Started", since)
    assert (started["triggerReason"], started["transactionInfo"]["remoteStartId"]) == ("RemoteStart", 8)
    assert started["idToken"] == _token(tag)
    charging = await wait_event(stack, "Updated", since, trigger="ChargingStateChanged")
    assert charging["transactionInfo"]["chargingState"] == "Charging"
    # AuthorizeRemoteStart false: the remote idToken is taken as authorized, no Authorize (F01.FR.02).
    assert await messages(stack, "Authorize", since) == []
    assert await schema_violations(stack) == []


async def test_tc_f_04_cs_remote_start_first_cable_plugin_timeout(charger) -> None:  # type: ignore[no-untyped-def]
    """E03.FR.05 as TC_F_04_CS checks it. The OCTT configures TxStartPoint Authorized, where the
    remote start opens a transaction that the timeout then ends; this charger offers only
    PowerPathClosed (docs/ocpp201.md), so no transaction may open and the lapsed
    authorization must not start one when the EV comes later."""
    timeout_s = 3
    stack = await charger(backend=V201, ocpp={"ConnectionTimeOut": timeout_s})  # TxCtrlr.EVConnectionTimeOut
    since = await last_seq(stack)
    assert await _remote_start(stack, new_id_tag(), 9) == "Accepted"
    await asyncio.sleep(timeout_s + 1.5)  # the driver does not plug in within EVConnectionTimeOut
    # TxStartPoint PowerPathClosed: no transaction was started, so none is told to end.
    assert await events(stack, since) == []
    plugged = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    await wait_connector(stack, 1, "Occupied", plugged)
    await expect_none(stack, "TransactionEvent", plugged, within=3.0)  # the authorization has lapsed
    # The EVSE is still fit for the next remote start (the OCTT's closing "Authorized (remote)").
    tag = new_id_tag()
    assert await _remote_start(stack, tag, 10) == "Accepted"
    started = await wait_event(stack, "Started", plugged)
    assert (started["triggerReason"], started["transactionInfo"]["remoteStartId"]) == ("RemoteStart", 10)
    assert started["idToken"] == _token(tag)
    assert await schema_violations(stack) == []


async def test_tc_f_06_cs_f_07_cs_and_f_10_cs_unlock_connector_without_transaction(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, lock=True)  # a socket outlet with a cable lock
    # TC_F_07_CS: no cable connected: Unlocked.
    assert (await call(stack, "UnlockConnector", {"evseId": 1, "connectorId": 1}))["status"] == "Unlocked"
    # TC_F_06_CS: a cable in, no transaction: Unlocked, and the lock is really open.
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    await wait_connector(stack, 1, "Occupied", since)
    await stack.bench_request("lock_set", connector=1, locked=True)  # as a failed release left it
    assert (await call(stack, "UnlockConnector", {"evseId": 1, "connectorId": 1}))["status"] == "Unlocked"
    await stack.bench_request("wait_for", connector=1, field="locked", value=False, timeout=5)
    # TC_F_10_CS: an EVSE or a connector the station does not have: UnknownConnector.
    assert (await call(stack, "UnlockConnector", {"evseId": 9, "connectorId": 1}))["status"] == "UnknownConnector"
    assert (await call(stack, "UnlockConnector", {"evseId": 1, "connectorId": 2}))["status"] == "UnknownConnector"
    assert await events(stack, since) == []
    assert await schema_violations(stack) == []


async def test_tc_f_12_cs_trigger_meter_values_all_evse(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(connectors=2, backend=V201)
    since = await last_seq(stack)
    assert await _trigger(stack, "MeterValues") == "Accepted"
    sent = await wait_for(stack, "MeterValues", count=2, since=since, timeout=10)
    assert sorted(m["evseId"] for m in sent) == [1, 2]  # one for every EVSE
    for message in sent:
        values = [s for mv in message["meterValue"] for s in mv["sampledValue"]]
        assert values and all(s.get("context") == "Trigger" for s in values), message
    assert await schema_violations(stack) == []


async def test_tc_f_14_cs_trigger_transaction_event_all_evse(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(connectors=2, backend=V201)
    transactions = {evse: await _charging(stack, evse) for evse in (1, 2)}
    since = await last_seq(stack)
    assert await _trigger(stack, "TransactionEvent") == "Accepted"
    await wait_for(stack, "TransactionEvent", count=2, since=since, timeout=10)
    triggered = [e for e in await events(stack, since) if e["triggerReason"] == "Trigger"]
    # One for every EVSE's transaction (F06.FR.11), each as the OCTT checks it.
    assert sorted(e["transactionInfo"]["transactionId"] for e in triggered) == sorted(transactions.values())
    for event in triggered:
        assert event["eventType"] == "Updated"
        assert event["transactionInfo"].get("chargingState") == "Charging"
        assert event["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"
    # evse.id must be the EVSE's own: the request named none, so the answer must say which.
    assert {e.get("evse", {}).get("id"): e["transactionInfo"]["transactionId"] for e in triggered} == transactions
    assert await schema_violations(stack) == []


async def test_tc_f_17_cs_trigger_firmware_status_with_an_evse_not_relevant(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    since = await last_seq(stack)
    # The EVSE means nothing to a FirmwareStatusNotification: it is ignored, not refused.
    assert await _trigger(stack, "FirmwareStatusNotification", {"id": 1}) == "Accepted"
    sent = await wait_for(stack, "FirmwareStatusNotification", since=since, timeout=5)
    assert sent[0]["status"] == "Idle"
    assert await schema_violations(stack) == []


async def test_tc_f_23_cs_and_f_24_cs_trigger_status_notification_of_one_evse(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(connectors=2, backend=V201)
    # TC_F_23_CS: an Available connector: that one connector's status, and no other.
    since = await last_seq(stack)
    assert await _trigger(stack, "StatusNotification", {"id": 1, "connectorId": 1}) == "Accepted"
    await wait_for(stack, "StatusNotification", since=since, timeout=5)
    await expect_none(stack, "StatusNotification", (await messages(stack, "StatusNotification", since))[0]["seq"],
                      within=1.0)
    told = [(m["payload"]["evseId"], m["payload"]["connectorId"], m["payload"]["connectorStatus"])
            for m in await messages(stack, "StatusNotification", since)]
    assert told == [(1, 1, "Available")]
    # TC_F_24_CS: EVConnectedPreSession: the triggered status says Occupied.
    plugged = await last_seq(stack)
    await stack.bench_request("plug", connector=2, max_current=16)
    await wait_connector(stack, 2, "Occupied", plugged)
    since = await last_seq(stack)
    assert await _trigger(stack, "StatusNotification", {"id": 2, "connectorId": 1}) == "Accepted"
    sent = await wait_for(stack, "StatusNotification", since=since, timeout=5)
    assert (sent[0]["evseId"], sent[0]["connectorId"], sent[0]["connectorStatus"]) == (2, 1, "Occupied")
    assert await schema_violations(stack) == []


async def test_tc_f_27_cs_trigger_message_not_implemented(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    since = await last_seq(stack)
    # Messages this station never sends: no ISO 15118 link to sign a V2G certificate for, and
    # no local controller's firmware to publish.
    for message in ("SignV2GCertificate", "SignCombinedCertificate", "PublishFirmwareStatusNotification"):
        assert await _trigger(stack, message) == "NotImplemented", message
    await expect_none(stack, "SignCertificate", since, within=1.0)
    assert await messages(stack, "PublishFirmwareStatusNotification", since) == []
    assert await schema_violations(stack) == []
