"""OCPP 2.0.1 Transactions (block E) over the real agent and the test CSMS, from the
official cases (OCPP 2.0.1 Part 6) and what docs/ocpp201.md promises: the charger starts a
transaction at ``PowerPathClosed`` (EV connected and driver authorized) unless told
otherwise (the other start points: ``test_start_points.py``) and stops it at
``EVConnected,Authorized`` (whichever ends first).

Covered here: authorization first and its timeouts (E02/E03), the stop points the charger
offers (E06), offline behaviour (E08/E11/E12), a cable pulled at the EV (E09/E10),
retries after a CALLERROR (E13) and GetTransactionStatus with messages queued (E14).
Every test ends with no schema violation in what the charger sent.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from tests.conformance.helpers import expect_none, new_id_tag
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
from tests.conformance201.test_local_list import entry, send_list

#: EVConnectionTimeOut (1.6 ConnectionTimeOut) short enough to wait out in a test.
CONNECTION_TIMEOUT_S = 2


async def _clean(stack: Any) -> None:
    assert await schema_violations(stack) == []


def _tx(event: dict[str, Any]) -> str:
    return str(event["transactionInfo"]["transactionId"])


async def _of(stack: Any, tx: str, since: int = 0) -> list[dict[str, Any]]:
    """The TransactionEvents of transaction ``tx`` after ``since``, oldest first."""
    return [e for e in await events(stack, since) if _tx(e) == tx]


async def _charging(stack: Any, tag: str, evse: int = 1) -> dict[str, Any]:
    """Plug in, tap; return the Started event once the EV draws (EnergyTransferStarted)."""
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=evse, max_current=16)
    await stack.bench_request("tap", uid=tag)
    started = await wait_event(stack, "Started", since)
    await _wait_state(stack, _tx(started), "Charging", since)
    await stack.bench_request("wait_for", connector=evse, field="contactor_closed", value=True, timeout=15)
    return started


async def _wait_state(stack: Any, tx: str, state: str, since: int = 0, timeout: float = 15.0) -> dict[str, Any]:
    """Wait for an event of ``tx`` whose chargingState is ``state``; return it."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        for e in await _of(stack, tx, since):
            if e["transactionInfo"].get("chargingState") == state:
                return e
        if asyncio.get_running_loop().time() > deadline:
            seen = [(e["eventType"], e["triggerReason"], e["transactionInfo"].get("chargingState"))
                    for e in await _of(stack, tx, since)]
            raise AssertionError(f"transaction {tx} never reported {state}; saw {seen}\n{stack.agent_log()}")
        await asyncio.sleep(0.1)


async def _set_variables(stack: Any, *items: tuple[str, str, str]) -> list[str]:
    """SetVariables of (component, variable, value); the attributeStatus of each."""
    answer = await call(stack, "SetVariables", {"setVariableData": [
        {"component": {"name": c}, "variable": {"name": v}, "attributeValue": value} for c, v, value in items]})
    return [r["attributeStatus"] for r in answer["setVariableResult"]]


def _measurands(event: dict[str, Any], context: str) -> set[str]:
    return {s.get("measurand", "Energy.Active.Import.Register")
            for mv in event.get("meterValue", []) for s in mv["sampledValue"] if s.get("context") == context}


# ---------------------------------------------------------------- E02/E03: local start
async def test_tc_e_04_cs_local_start_authorization_first(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    tag = new_id_tag()
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)
    authorize = (await wait_for(stack, "Authorize", since=since))[0]
    assert authorize["idToken"] == {"idToken": tag, "type": "ISO14443"}
    # Authorized but no EV yet: no transaction (TxStartPoint PowerPathClosed), EVSE still Available.
    await expect_none(stack, "TransactionEvent", since, within=1.0)
    await stack.bench_request("plug", connector=1, max_current=16)
    await wait_connector(stack, 1, "Occupied", since)
    started = await wait_event(stack, "Started", since)
    assert started["idToken"]["idToken"] == tag
    assert started["evse"] == {"id": 1, "connectorId": 1}
    assert started["seqNo"] == 0
    # EnergyTransferStarted: the EV draws, reported as ChargingStateChanged / Charging.
    charging = await _wait_state(stack, _tx(started), "Charging", since)
    assert charging["triggerReason"] in ("ChargingStateChanged", "Authorized", "CablePluggedIn")
    if charging["eventType"] == "Updated":
        assert charging["triggerReason"] == "ChargingStateChanged"
    assert [m["action"] for m in await messages(stack, since=since)
            if m["action"] in ("Authorize", "TransactionEvent")][0] == "Authorize"
    await _clean(stack)


async def test_tc_e_05_cs_cable_plugin_timeout_and_e_39_cs_deauthorized_timeout(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp={"ConnectionTimeOut": CONNECTION_TIMEOUT_S})
    tag = new_id_tag()
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)
    await wait_for(stack, "Authorize", since=since)
    # TC_E_05 step 1 / TC_E_39 steps 1-2: the transaction had not started (PowerPathClosed),
    # so the timeout ends nothing the backend knows of: no TransactionEvent at all.
    await expect_none(stack, "TransactionEvent", since, within=CONNECTION_TIMEOUT_S + 1.5)
    # TC_E_39 steps 3-5: the EV connects after the timeout: Occupied, but no energy.
    await stack.bench_request("plug", connector=1, max_current=16)
    await wait_connector(stack, 1, "Occupied", since)
    await expect_none(stack, "TransactionEvent", since, within=2.0)
    status = await stack.bench_request("status")
    assert status["connectors"][0]["contactor_closed"] is False
    # TC_E_05 steps 3-4: the EVSE is ready for a new session: authorize again, it charges.
    again = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)
    started = await wait_event(stack, "Started", again)
    assert started["idToken"]["idToken"] == tag
    await _wait_state(stack, _tx(started), "Charging", again)
    await _clean(stack)


async def test_tc_e_38_cs_local_start_ev_not_ready(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    await stack.bench_request("pause", connector=1)  # the EV does not ask for energy
    await wait_connector(stack, 1, "Occupied", since)
    await stack.bench_request("tap", uid=new_id_tag())
    started = await wait_event(stack, "Started", since)
    tx = _tx(started)
    suspended = await _wait_state(stack, tx, "SuspendedEV", since)
    if suspended["eventType"] == "Updated":
        assert suspended["triggerReason"] == "ChargingStateChanged"
    assert "Charging" not in [e["transactionInfo"].get("chargingState") for e in await _of(stack, tx, since)]
    await stack.bench_request("resume", connector=1)  # the EV is ready: it charges
    charging = await _wait_state(stack, tx, "Charging", since)
    assert charging["triggerReason"] == "ChargingStateChanged"
    await _clean(stack)


# ---------------------------------------------------------------- E01/E06: start and stop points
async def test_tc_e_01_cs_start_point_power_path_closed(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp={"SampledDataCtrlr.TxStartedMeasurands": "Energy.Active.Import.Register"})
    got = await call(stack, "GetVariables", {"getVariableData": [
        {"component": {"name": "TxCtrlr"}, "variable": {"name": "TxStartPoint"}},
        {"component": {"name": "TxCtrlr"}, "variable": {"name": "TxStopPoint"}}]})
    assert [r["attributeValue"] for r in got["getVariableResult"]] == ["PowerPathClosed", "EVConnected,Authorized"]
    # What docs/ocpp201.md promises: a start or stop point the charger would not act on is Rejected.
    assert await _set_variables(stack, ("TxCtrlr", "TxStartPoint", "DataSigned"),
                                ("TxCtrlr", "TxStopPoint", "EVConnected")) == ["Rejected", "Rejected"]
    assert await _set_variables(stack, ("TxCtrlr", "TxStartPoint", "PowerPathClosed")) == ["Accepted"]
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    await wait_connector(stack, 1, "Occupied", since)
    await expect_none(stack, "TransactionEvent", since, within=1.0)  # EV connected only: no transaction yet
    tag = new_id_tag()
    await stack.bench_request("tap", uid=tag)
    started = await wait_event(stack, "Started", since)
    assert started["idToken"]["idToken"] == tag and started["evse"] == {"id": 1, "connectorId": 1}
    assert _measurands(started, "Transaction.Begin") == {"Energy.Active.Import.Register"}
    await _wait_state(stack, _tx(started), "Charging", since)
    await _clean(stack)


async def test_tc_e_15_cs_stop_authorized_local(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    tag = new_id_tag()
    started = await _charging(stack, tag)
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)
    ended = await wait_event(stack, "Ended", since)
    assert _tx(ended) == _tx(started)
    assert (ended["triggerReason"], ended["transactionInfo"]["stoppedReason"]) == ("StopAuthorized", "Local")
    assert ended["idToken"]["idToken"] == tag
    # TxStopPoint Authorized: the transaction ended with the EV still plugged in.
    assert (await stack.bench_request("status"))["connectors"][0]["plugged"] is True
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=False, timeout=10)
    unplugged = await last_seq(stack)
    await stack.bench_request("unplug", connector=1)
    await wait_connector(stack, 1, "Available", unplugged)
    assert await events(stack, unplugged) == []  # nothing more of an ended transaction
    await _clean(stack)


async def test_tc_e_21_cs_stop_authorized_remote(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    started = await _charging(stack, new_id_tag())
    since = await last_seq(stack)
    answer = await call(stack, "RequestStopTransaction", {"transactionId": _tx(started)})
    assert answer["status"] == "Accepted"
    ended = await wait_event(stack, "Ended", since)
    assert _tx(ended) == _tx(started)
    assert (ended["triggerReason"], ended["transactionInfo"]["stoppedReason"]) == ("RemoteStop", "Remote")
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=False, timeout=10)
    assert (await stack.bench_request("status"))["connectors"][0]["plugged"] is True
    await _clean(stack)


async def _ev_side_disconnect(stack: Any) -> tuple[dict[str, Any], dict[str, Any], int]:
    """Charge, then pull the cable: (Started, the EVCommunicationLost event, seq before the pull)."""
    started = await _charging(stack, new_id_tag())
    since = await last_seq(stack)
    await stack.bench_request("unplug", connector=1)
    lost = await wait_event(stack, "Ended", since)
    return started, lost, since


async def test_tc_e_14_cs_ev_disconnected_charging_station_side(charger) -> None:  # type: ignore[no-untyped-def]
    # A socket outlet (cable lock): the cable can be pulled at the charger.
    stack = await charger(backend=V201, lock=True)
    started, ended, since = await _ev_side_disconnect(stack)
    assert _tx(ended) == _tx(started)
    assert ended["triggerReason"] == "EVCommunicationLost"
    assert ended["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    await wait_connector(stack, 1, "Available", since)
    await _clean(stack)
    assert ended["transactionInfo"].get("chargingState") == "Idle"


async def test_tc_e_20_cs_and_e_17_cs_ev_side_disconnect_stops(charger) -> None:  # type: ignore[no-untyped-def]
    # A tethered cable (the bench's default): the cable leaves the EV. StopTxOnEVSideDisconnect true.
    stack = await charger(backend=V201, ocpp={"StopTransactionOnEVSideDisconnect": True})
    started, ended, since = await _ev_side_disconnect(stack)
    assert _tx(ended) == _tx(started)
    # TC_E_20 step 1 / TC_E_17 step 1: Ended, EVCommunicationLost, Idle, EVDisconnected.
    assert ended["triggerReason"] == "EVCommunicationLost"
    assert ended["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    await wait_connector(stack, 1, "Available", since)  # TC_E_17 step 3
    await _clean(stack)
    assert ended["transactionInfo"].get("chargingState") == "Idle"


async def test_tc_e_16_cs_deauthorized_invalid_id_token(charger, csms) -> None:  # type: ignore[no-untyped-def]
    # StartOfflineTransaction: started offline on an id the charger could not ask about,
    # which the backend calls Invalid in its answer to the queued Started event.
    stack = await charger(backend=V201, ocpp={"AllowOfflineTxForUnknownId": True, "StopTransactionOnInvalidId": True})
    tag = new_id_tag()
    await csms.request("set_id_tag", id_tag=tag, status="Invalid")
    await stack.bench_request("link", state="cut")
    await stack.bench_request("wait_for", field="link", value="cut")
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    await stack.bench_request("tap", uid=tag)
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=True, timeout=20)
    await stack.bench_request("link", state="up")
    started = await wait_event(stack, "Started", since, timeout=30)
    assert started["offline"] is True  # step 1
    ended = await wait_event(stack, "Ended", since, timeout=15)  # step 3
    assert _tx(ended) == _tx(started)
    assert (ended["triggerReason"], ended["transactionInfo"]["stoppedReason"]) == ("Deauthorized", "DeAuthorized")
    assert not ended.get("offline")  # deauthorized once the backend answered, online
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=False, timeout=10)
    await _clean(stack)


# ---------------------------------------------------------------- E09/E10: cable pulled at the EV
async def _locked(stack: Any) -> bool:
    return bool((await stack.bench_request("status"))["connectors"][0]["locked"])


async def test_tc_e_24_cs_deauthorize_unlock_on_ev_side_disconnect_true(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, lock=True, ocpp={"StopTransactionOnEVSideDisconnect": True,
                                                         "UnlockConnectorOnEVSideDisconnect": True})
    started = await _charging(stack, new_id_tag())
    assert await _locked(stack) is True  # the socket holds the cable while charging
    since = await last_seq(stack)
    await stack.bench_request("unplug", connector=1)
    ended = await wait_event(stack, "Ended", since)
    assert _tx(ended) == _tx(started)
    assert ended["triggerReason"] == "EVCommunicationLost"
    assert ended["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    await stack.bench_request("wait_for", connector=1, field="locked", value=False, timeout=5)  # unlocked at once
    await wait_connector(stack, 1, "Available", since)  # step 3
    await _clean(stack)


async def test_tc_e_25_cs_deauthorize_unlock_on_ev_side_disconnect_false(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, lock=True, ocpp={"StopTransactionOnEVSideDisconnect": True,
                                                         "UnlockConnectorOnEVSideDisconnect": False})
    tag = new_id_tag()
    started = await _charging(stack, tag)
    since = await last_seq(stack)
    await stack.bench_request("unplug", connector=1)
    ended = await wait_event(stack, "Ended", since)
    assert _tx(ended) == _tx(started)
    assert ended["triggerReason"] == "EVCommunicationLost"
    assert ended["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    # UnlockOnEVSideDisconnect false: the charger does not unlock the cable on its side.
    await asyncio.sleep(1.5)
    assert await _locked(stack) is True
    # With no transaction left, the backend's UnlockConnector releases it (F05).
    answer = await call(stack, "UnlockConnector", {"evseId": 1, "connectorId": 1})
    assert answer["status"] == "Unlocked"
    assert await _locked(stack) is False
    await _clean(stack)


async def test_tc_e_26_cs_suspend_transaction_on_ev_side_disconnect(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp={"StopTransactionOnEVSideDisconnect": False, "ConnectionTimeOut": 30})
    started = await _charging(stack, new_id_tag())
    tx = _tx(started)
    since = await last_seq(stack)
    await stack.bench_request("unplug", connector=1)
    lost = await wait_event(stack, "Updated", since, trigger="EVCommunicationLost")  # step 1
    assert _tx(lost) == tx
    assert lost["transactionInfo"].get("chargingState") == "Idle"
    await wait_connector(stack, 1, "Available", since)  # step 3: nothing plugged in, the transaction open
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=False, timeout=10)
    assert "Ended" not in [e["eventType"] for e in await _of(stack, tx, since)]
    back = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    plugged = await wait_event(stack, "Updated", back, trigger="CablePluggedIn")  # step 5
    assert _tx(plugged) == tx
    assert plugged["transactionInfo"].get("chargingState") == "EVConnected"
    charging = await _wait_state(stack, tx, "Charging", back)  # step 7
    assert (charging["eventType"], charging["triggerReason"]) == ("Updated", "ChargingStateChanged")
    same = await _of(stack, tx)
    assert [e["seqNo"] for e in same] == list(range(len(same)))
    await _clean(stack)


async def test_tc_e_27_cs_suspend_transaction_fixed_cable_connection_timeout(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp={"StopTransactionOnEVSideDisconnect": False,
                                              "ConnectionTimeOut": CONNECTION_TIMEOUT_S})
    started = await _charging(stack, new_id_tag())
    since = await last_seq(stack)
    await stack.bench_request("unplug", connector=1)
    lost = await wait_event(stack, "Updated", since, trigger="EVCommunicationLost")  # step 1
    assert lost["transactionInfo"].get("chargingState") == "Idle"
    await wait_connector(stack, 1, "Available", since)  # step 3
    # Step 5: the EV did not come back within EVConnectionTimeOut: with TxStopPoint
    # Authorized the transaction is deauthorized and ends.
    ended = await wait_event(stack, "Ended", since, timeout=CONNECTION_TIMEOUT_S + 10)
    assert _tx(ended) == _tx(started)
    assert ended["triggerReason"] == "EVConnectTimeout"
    assert ended["transactionInfo"]["stoppedReason"] == "Timeout"
    assert ended["transactionInfo"].get("chargingState") == "Idle"
    # Not before the timeout: the EV had EVConnectionTimeOut to come back.
    lost_at = datetime.fromisoformat(lost["timestamp"].replace("Z", "+00:00"))
    ended_at = datetime.fromisoformat(ended["timestamp"].replace("Z", "+00:00"))
    assert (ended_at - lost_at).total_seconds() >= CONNECTION_TIMEOUT_S - 0.5
    await _clean(stack)


# ---------------------------------------------------------------- E08/E11/E12: offline behaviour
CALL_ERROR = '[4,"$ID","InternalError","not processed",{}]'


async def _cut(stack: Any) -> int:
    """Cut the link at the bench; return the CSMS log position at the cut."""
    await stack.bench_request("link", state="cut")
    await stack.bench_request("wait_for", field="link", value="cut")
    return await last_seq(stack)


async def _first_event_after(stack: Any, since: int, timeout: float = 30.0) -> dict[str, Any]:
    """The first TransactionEvent CALL after ``since`` (whatever the answer), once it arrived."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (found := await events(stack, since)):
        assert asyncio.get_running_loop().time() < deadline, f"no TransactionEvent\n{stack.agent_log()}"
        await asyncio.sleep(0.05)
    return found[0]


async def test_tc_e_40_cs_connection_loss_and_e_29_cs_e_33_cs_status_with_queue(charger, csms) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp={"MeterValueSampleInterval": 1, "TransactionMessageRetryInterval": 4})
    started = await _charging(stack, new_id_tag())
    tx = _tx(started)
    cut = await _cut(stack)
    await stack.bench_request("wait_for", connector=1, field="energy_wh", value=1, op="ge", timeout=10)
    await asyncio.sleep(2.5)  # TxUpdatedInterval 1 s: samples taken while offline
    # The first message after the reconnection is not processed: the rest stays queued
    # for TransactionMessageRetryInterval (MessageAttemptInterval), long enough to ask.
    await csms.request("answer_raw", cp=stack.cp_id, action="TransactionEvent", frames=[CALL_ERROR])
    await stack.bench_request("link", state="up")
    first = await _first_event_after(stack, cut)
    assert first["offline"] is True
    # TC_E_29: the transaction is ongoing and messages wait in the queue.
    assert await call(stack, "GetTransactionStatus", {"transactionId": tx}) == {
        "ongoingIndicator": True, "messagesInQueue": True}
    # TC_E_33: without a transactionId, whether any transaction message waits; no ongoingIndicator.
    assert await call(stack, "GetTransactionStatus", {}) == {"messagesInQueue": True}
    # TC_E_40 / TC_E_29 step 5: the queue is emptied, in order, with the samples taken offline.
    await wait_event(stack, "Updated", cut, timeout=20, trigger="MeterValuePeriodic")
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        mine = await _of(stack, tx, cut)
        offline = [e for e in mine if e.get("offline")]
        if len({e["seqNo"] for e in offline}) >= 2 and any(not e.get("offline") for e in mine):
            break
        assert asyncio.get_running_loop().time() < deadline, [(e["seqNo"], e.get("offline")) for e in mine]
        await asyncio.sleep(0.2)
    assert all(e["eventType"] == "Updated" and e["meterValue"] for e in offline)
    assert {e["triggerReason"] for e in offline} == {"MeterValuePeriodic"}
    numbers = [e["seqNo"] for e in mine]
    assert numbers == sorted(numbers)  # delivered in the order taken, resends next to their first try
    assert max(i for i, e in enumerate(mine) if e.get("offline")) < min(
        i for i, e in enumerate(mine) if not e.get("offline"))  # the queue before what is new
    assert "Ended" not in [e["eventType"] for e in mine]  # the transaction went on
    booked = next(t for t in await ledger(stack) if t["transaction_id"] == tx)
    assert booked["seq_nos"] == sorted(set(booked["seq_nos"])) and booked["seq_nos"][0] == 0
    assert booked["seq_nos"] == list(range(len(booked["seq_nos"])))  # gapless
    await _clean(stack)


async def test_tc_e_43_cs_transaction_during_offline_period(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp={"AllowOfflineTxForUnknownId": True})
    tag = new_id_tag()
    cut = await _cut(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    await stack.bench_request("tap", uid=tag)
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=True, timeout=20)
    await stack.bench_request("link", state="up")
    started = await wait_event(stack, "Started", cut, timeout=30)
    tx = _tx(started)
    assert started["offline"] is True and started["idToken"]["idToken"] == tag
    assert started["seqNo"] == 0
    await _wait_state(stack, tx, "Charging", cut)
    # Back online, the transaction goes on and is stopped online: offline no longer set.
    online = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)
    ended = await wait_event(stack, "Ended", online)
    assert _tx(ended) == tx and not ended.get("offline")
    assert (ended["triggerReason"], ended["transactionInfo"]["stoppedReason"]) == ("StopAuthorized", "Local")
    mine = await _of(stack, tx)
    assert [e["seqNo"] for e in mine] == list(range(len(mine)))
    await _clean(stack)


async def test_tc_e_44_cs_stop_during_offline_period_and_e_31_cs_status_with_queue(charger, csms) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp={"TransactionMessageRetryInterval": 4})
    tag = new_id_tag()
    started = await _charging(stack, tag)
    tx = _tx(started)
    cut = await _cut(stack)
    await stack.bench_request("tap", uid=tag)  # the same idToken: stopped without asking anyone
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=False, timeout=10)
    await stack.bench_request("unplug", connector=1)
    await asyncio.sleep(0.5)
    await csms.request("answer_raw", cp=stack.cp_id, action="TransactionEvent", frames=[CALL_ERROR])
    await stack.bench_request("link", state="up")
    await _first_event_after(stack, cut)
    # TC_E_31: the transaction has ended, but its messages still wait.
    assert await call(stack, "GetTransactionStatus", {"transactionId": tx}) == {
        "ongoingIndicator": False, "messagesInQueue": True}
    # TC_E_44 / TC_E_31 steps 3-4: every message of the transaction, offline true, ending it.
    ended = await wait_event(stack, "Ended", cut, timeout=20)
    assert _tx(ended) == tx and ended["offline"] is True
    assert (ended["triggerReason"], ended["transactionInfo"]["stoppedReason"]) == ("StopAuthorized", "Local")
    assert ended["idToken"]["idToken"] == tag
    assert all(e.get("offline") is True for e in await _of(stack, tx, cut))
    # Once the last one is answered, nothing waits any more (as in TC_E_32).
    deadline = asyncio.get_running_loop().time() + 10
    while (status := await call(stack, "GetTransactionStatus", {"transactionId": tx}))["messagesInQueue"]:
        assert asyncio.get_running_loop().time() < deadline, status
        await asyncio.sleep(0.2)
    assert status == {"ongoingIndicator": False, "messagesInQueue": False}
    await _clean(stack)


async def test_tc_e_45_cs_stop_during_offline_period_same_group_id(charger, csms) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp={"LocalAuthorizeOffline": True, "LocalAuthListEnabled": True,
                                              "AllowOfflineTxForUnknownId": False})
    owner, member, group = new_id_tag(), new_id_tag(), new_id_tag()
    await csms.request("set_id_tag", id_tag=owner, status="Accepted", group_id_token=group)
    assert await send_list(stack, "Full", 1, [entry(member, group=group)]) == "Accepted"
    started = await _charging(stack, owner)
    cut = await _cut(stack)
    await stack.bench_request("tap", uid=member)  # another card of the same group, offline
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=False, timeout=15)
    await stack.bench_request("link", state="up")
    ended = await wait_event(stack, "Ended", cut, timeout=30)
    assert _tx(ended) == _tx(started) and ended["offline"] is True
    assert (ended["triggerReason"], ended["transactionInfo"]["stoppedReason"]) == ("StopAuthorized", "Local")
    assert ended["idToken"]["idToken"] == member
    await _clean(stack)


# ---------------------------------------------------------------- E13: retries after a CALLERROR
RETRY = {"TransactionMessageAttempts": 3, "TransactionMessageRetryInterval": 1}


async def _copies(stack: Any, tx: str, seq_no: int, since: int) -> list[dict[str, Any]]:
    return [m for m in await messages(stack, "TransactionEvent", since)
            if _tx(m["payload"]) == tx and m["payload"]["seqNo"] == seq_no]


async def test_tc_e_50_cs_retry_max_count_reached_call_error(charger, csms) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp=RETRY)
    started = await _charging(stack, new_id_tag())
    tx = _tx(started)
    since = await last_seq(stack)
    # Every try is refused (a further try would be answered normally, but still counted).
    await csms.request("answer_raw", cp=stack.cp_id, action="TransactionEvent",
                       frames=[CALL_ERROR] * RETRY["TransactionMessageAttempts"])
    await stack.bench_request("pause", connector=1)  # an Updated ChargingStateChanged to deliver
    first = await _first_event_after(stack, since)
    seq_no = first["seqNo"]
    # Sent MessageAttempts times in all, then given up: wait past where a further try would be
    # (attempt × MessageAttemptInterval: 1 + 2 + 3 s) and count.
    await asyncio.sleep(1 + 2 + 3 + 1.5)
    copies = await _copies(stack, tx, seq_no, since)
    assert len(copies) == RETRY["TransactionMessageAttempts"], [c["received_at"] for c in copies]
    assert all(c["payload"] == first for c in copies)  # the very same message each time
    gaps = [b["received_at"] - a["received_at"] for a, b in zip(copies, copies[1:])]
    assert all(gap >= 0.9 for gap in gaps), gaps  # spaced by the retry interval
    # Given up, the charger goes on: the next message of the transaction is delivered.
    resumed = await last_seq(stack)
    await stack.bench_request("resume", connector=1)
    charging = await _wait_state(stack, tx, "Charging", resumed)
    assert charging["seqNo"] == seq_no + 1
    await _clean(stack)


async def test_tc_e_51_cs_retry_success_before_max_count_call_error(charger, csms) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp=RETRY)
    started = await _charging(stack, new_id_tag())
    tx = _tx(started)
    since = await last_seq(stack)
    await csms.request("answer_raw", cp=stack.cp_id, action="TransactionEvent", frames=[CALL_ERROR])
    await stack.bench_request("pause", connector=1)
    first = await _first_event_after(stack, since)
    deadline = asyncio.get_running_loop().time() + 10
    while len(copies := await _copies(stack, tx, first["seqNo"], since)) < 2:
        assert asyncio.get_running_loop().time() < deadline, f"not sent again\n{stack.agent_log()}"
        await asyncio.sleep(0.1)
    assert copies[1]["payload"] == first
    assert copies[1]["received_at"] - copies[0]["received_at"] >= 0.9
    await asyncio.sleep(2.5)
    assert len(await _copies(stack, tx, first["seqNo"], since)) == 2  # answered: not sent again
    resumed = await last_seq(stack)
    await stack.bench_request("resume", connector=1)
    charging = await _wait_state(stack, tx, "Charging", resumed)
    assert charging["seqNo"] == first["seqNo"] + 1
    booked = next(t for t in await ledger(stack) if t["transaction_id"] == tx)
    assert booked["seq_nos"] == list(range(len(booked["seq_nos"])))
    await _clean(stack)


# ---------------------------------------------------------------- E14: GetTransactionStatus
async def test_tc_e_34_cs_and_e_30_cs_get_transaction_status_without_queue(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    # TC_E_34: no transactionId, nothing queued: messagesInQueue false, no ongoingIndicator.
    assert await call(stack, "GetTransactionStatus", {}) == {"messagesInQueue": False}
    started = await _charging(stack, new_id_tag())
    # TC_E_30: the transaction is ongoing, every message of it delivered.
    assert await call(stack, "GetTransactionStatus", {"transactionId": _tx(started)}) == {
        "ongoingIndicator": True, "messagesInQueue": False}
    assert await call(stack, "GetTransactionStatus", {}) == {"messagesInQueue": False}
    await _clean(stack)
