"""OCPP 2.0.1 E01, the start points besides PowerPathClosed (TxCtrlr.TxStartPoint), over
the real agent and the test CSMS: a transaction begun by the EV plugged in, its token
identified later (EVConnected, TC_E_09_CS); begun by the token authorized, its EV to come
within EVConnectionTimeOut (Authorized, TC_E_10_CS local, TC_E_13_CS remote, and the
timeout of TC_E_39_CS); begun by the energy transfer (EnergyTransfer, TC_E_02_CS). Energy
flows only once both are there. And E06, the stop points:
PowerPathClosed (TC_E_07_CS, TC_E_35_CS, TC_E_37_CS) and EnergyTransfer (TC_E_08_CS, TC_E_22_CS). Every test ends
with no schema violation in what the charger sent."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from tests.conformance.helpers import expect_none, new_id_tag, wait_rebooted
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
from tests.conformance201.test_transactions import (
    CONNECTION_TIMEOUT_S,
    _charging,
    _of,
    _set_variables,
    _tx,
    _wait_state,
)


async def _clean(stack: Any) -> None:
    assert await schema_violations(stack) == []


def _summary(tx_events: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    return [(e["eventType"], e["triggerReason"], e["transactionInfo"].get("chargingState")) for e in tx_events]


async def _contactor(stack: Any, connector: int = 1) -> bool:
    status = await stack.bench_request("status")
    return bool(status["connectors"][connector - 1]["contactor_closed"])


# ---------------------------------------------------------------- EVConnected
async def test_tc_e_09_cs_the_ev_plugged_in_starts_the_transaction(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    # Set at run time: the next plug-in already follows it.
    assert await _set_variables(stack, ("TxCtrlr", "TxStartPoint", "EVConnected")) == ["Accepted"]
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    started = await wait_event(stack, "Started", since)
    assert started["triggerReason"] == "CablePluggedIn"
    assert started["transactionInfo"]["chargingState"] == "EVConnected"
    assert "idToken" not in started and started["seqNo"] == 0
    assert started["evse"] == {"id": 1, "connectorId": 1}
    await wait_connector(stack, 1, "Occupied", since)
    await expect_none(stack, "TransactionEvent", since=(await last_seq(stack)), within=1.5)
    assert not await _contactor(stack)  # nobody authorized: no energy

    tag = new_id_tag()
    await stack.bench_request("tap", uid=tag)
    authorized = await wait_event(stack, "Updated", since, trigger="Authorized")
    assert _tx(authorized) == _tx(started)
    assert authorized["idToken"] == {"idToken": tag, "type": "ISO14443"}
    await _wait_state(stack, _tx(started), "Charging", since)
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=True, timeout=15)

    await stack.bench_request("tap", uid=tag)  # the same card ends it
    ended = await wait_event(stack, "Ended", since)
    assert ended["transactionInfo"]["stoppedReason"] == "Local"
    tx_events = await _of(stack, _tx(started), since)
    assert [e["seqNo"] for e in tx_events] == list(range(len(tx_events)))
    assert [m["action"] for m in await messages(stack, since=since)
            if m["action"] in ("Authorize", "TransactionEvent")][:2] == ["TransactionEvent", "Authorize"]
    await _clean(stack)


async def test_tc_e_09_cs_unplugged_before_any_token_ends_the_transaction(charger) -> None:  # type: ignore[no-untyped-def]
    # StopTxOnEVSideDisconnect false keeps an authorized transaction open without its EV,
    # but one nobody authorized has nothing to wait for.
    stack = await charger(backend=V201, ocpp={"TxCtrlr.TxStartPoint": "EVConnected",
                                              "StopTransactionOnEVSideDisconnect": False})
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    started = await wait_event(stack, "Started", since)
    await stack.bench_request("unplug", connector=1)
    ended = await wait_event(stack, "Ended", since)
    assert _tx(ended) == _tx(started)
    assert ended["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    assert "idToken" not in ended
    await wait_connector(stack, 1, "Available", since)
    await _clean(stack)


@pytest.mark.parametrize("evse", [{"evseId": 1}, {}], ids=["evse", "no-evse"])
async def test_tc_f_01_cs_a_remote_start_identifies_the_transaction_the_ev_began(
        charger, evse) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp={"TxCtrlr.TxStartPoint": "EVConnected"})
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    started = await wait_event(stack, "Started", since)
    answer = await call(stack, "RequestStartTransaction", {
        "idToken": {"idToken": "APP-7", "type": "Central"}, "remoteStartId": 31, **evse})
    assert answer["status"] == "Accepted"
    assert answer["transactionId"] == _tx(started)  # F01.FR.14: the transaction already running
    remote = await wait_event(stack, "Updated", since, trigger="RemoteStart")
    assert remote["idToken"] == {"idToken": "APP-7", "type": "Central"}
    assert remote["transactionInfo"]["remoteStartId"] == 31
    await _wait_state(stack, _tx(started), "Charging", since)
    await _clean(stack)


async def test_tc_e_09_cs_a_kill_before_and_after_the_token_loses_neither_the_transaction_nor_its_token(
        charger) -> None:  # type: ignore[no-untyped-def]
    """kill -9 with ``unfinished_transactions = "resume"`` and the EV still plugged in: the
    transaction the EV began carries on, waiting for its token; once the card named it, a
    second kill keeps it the card's (the same card still ends it). One transaction, its
    seqNo gapless throughout."""
    stack = await charger(backend=V201, ocpp={"TxCtrlr.TxStartPoint": "EVConnected"},
                          unfinished_transactions="resume")
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    started = await wait_event(stack, "Started", since)
    for _ in range(2):
        restart = await last_seq(stack)
        await stack.stop_agent(signal.SIGKILL)
        await stack.start_agent()
        await wait_rebooted(stack, restart)
        if _ == 0:
            assert not await _contactor(stack)  # resumed, still without a token: no energy
            tag = new_id_tag()
            await stack.bench_request("tap", uid=tag)
            await wait_event(stack, "Updated", since, trigger="Authorized")
        await _wait_state(stack, _tx(started), "Charging", restart)
    await stack.bench_request("tap", uid=tag)
    ended = await wait_event(stack, "Ended", since)
    assert ended["transactionInfo"]["stoppedReason"] == "Local"
    tx_events = await _of(stack, _tx(started), since)
    assert {_tx(e) for e in await events(stack, since)} == {_tx(started)}
    # At least once: an event the kill left unanswered is sent again, the same event.
    by_number: dict[int, dict[str, Any]] = {}
    for e in tx_events:
        assert by_number.setdefault(e["seqNo"], e) == e, e
    assert sorted(by_number) == list(range(len(by_number)))
    assert [by_number[n]["triggerReason"] for n in (0, 1)] == ["CablePluggedIn", "Authorized"]
    await _clean(stack)


# ---------------------------------------------------------------- Authorized
async def test_tc_e_10_cs_the_token_authorized_starts_the_transaction_before_the_ev(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp={"TxCtrlr.TxStartPoint": "Authorized"})
    tag = new_id_tag()
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)
    await wait_for(stack, "Authorize", since=since)
    started = await wait_event(stack, "Started", since)
    assert started["triggerReason"] == "Authorized"
    assert started["idToken"] == {"idToken": tag, "type": "ISO14443"}
    assert started["transactionInfo"]["chargingState"] == "Idle"  # no EV yet
    assert not await _contactor(stack)

    await stack.bench_request("plug", connector=1, max_current=16)
    plugged = await wait_event(stack, "Updated", since, trigger="CablePluggedIn")
    assert plugged["transactionInfo"]["chargingState"] == "EVConnected"
    await _wait_state(stack, _tx(started), "Charging", since)
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=True, timeout=15)
    assert {_tx(e) for e in await events(stack, since)} == {_tx(started)}  # one transaction throughout
    await _clean(stack)


async def test_tc_e_10_cs_ended_before_its_ev_came_the_transaction_stays_idle(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp={"TxCtrlr.TxStartPoint": "Authorized"})
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=new_id_tag())
    started = await wait_event(stack, "Started", since)
    assert (await call(stack, "RequestStopTransaction", {"transactionId": _tx(started)}))["status"] == "Accepted"
    ended = await wait_event(stack, "Ended", since)
    assert ended["transactionInfo"]["stoppedReason"] == "Remote"
    assert ended["transactionInfo"]["chargingState"] == "Idle"  # there never was an EV
    await _clean(stack)


async def test_tc_f_06_cs_unlock_ends_a_transaction_nobody_authorized(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, lock=True, ocpp={"TxCtrlr.TxStartPoint": "EVConnected"})
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    started = await wait_event(stack, "Started", since)
    answer = await call(stack, "UnlockConnector", {"evseId": 1, "connectorId": 1})
    assert answer["status"] == "Unlocked"  # not OngoingAuthorizedTransaction: nobody was authorized
    ended = await wait_event(stack, "Ended", since)
    assert _tx(ended) == _tx(started)
    assert ended["triggerReason"] == "UnlockCommand"
    await _clean(stack)


async def test_tc_e_10_cs_an_ev_that_came_during_an_outage_is_told_after_the_resume(charger) -> None:  # type: ignore[no-untyped-def]
    """kill -9 after the token began the transaction, the EV plugged in while the agent was
    down, ``unfinished_transactions = "resume"``: the backend hears CablePluggedIn before
    Charging, not a jump from Idle."""
    stack = await charger(backend=V201, ocpp={"TxCtrlr.TxStartPoint": "Authorized"},
                          unfinished_transactions="resume")
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=new_id_tag())
    started = await wait_event(stack, "Started", since)
    restart = await last_seq(stack)
    await stack.stop_agent(signal.SIGKILL)
    await stack.bench_request("plug", connector=1, max_current=16)
    await stack.start_agent()
    await wait_rebooted(stack, restart)
    await _wait_state(stack, _tx(started), "Charging", restart)
    by_number = {e["seqNo"]: e for e in await _of(stack, _tx(started), since)}  # a resend is the same event
    told = _summary([by_number[n] for n in sorted(by_number)])
    assert told[:2] == [("Started", "Authorized", "Idle"), ("Updated", "CablePluggedIn", "EVConnected")], told
    await _clean(stack)


async def test_tc_e_13_cs_a_remote_start_starts_the_transaction_before_the_ev(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp={"TxCtrlr.TxStartPoint": "Authorized"})
    since = await last_seq(stack)
    answer = await call(stack, "RequestStartTransaction", {
        "idToken": {"idToken": "APP-9", "type": "Central"}, "remoteStartId": 12, "evseId": 1})
    assert answer["status"] == "Accepted"
    started = await wait_event(stack, "Started", since)
    assert started["triggerReason"] == "RemoteStart"
    assert started["transactionInfo"]["remoteStartId"] == 12
    assert started["idToken"] == {"idToken": "APP-9", "type": "Central"}
    await stack.bench_request("plug", connector=1, max_current=16)
    await _wait_state(stack, _tx(started), "Charging", since)
    await _clean(stack)


async def test_tc_e_39_cs_no_ev_within_the_connection_timeout_ends_the_transaction(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp={"TxCtrlr.TxStartPoint": "Authorized",
                                              "ConnectionTimeOut": CONNECTION_TIMEOUT_S})
    tag = new_id_tag()
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)
    started = await wait_event(stack, "Started", since)
    ended = await wait_event(stack, "Ended", since, timeout=CONNECTION_TIMEOUT_S + 10)
    assert _tx(ended) == _tx(started)
    assert (ended["triggerReason"], ended["transactionInfo"]["stoppedReason"]) == ("EVConnectTimeout", "Timeout")
    assert _summary(await _of(stack, _tx(started), since)) == [
        ("Started", "Authorized", "Idle"), ("Ended", "EVConnectTimeout", "Idle")]
    # The EVSE is free again: an EV now plugged in waits for a new authorization.
    await stack.bench_request("plug", connector=1, max_current=16)
    await wait_connector(stack, 1, "Occupied", since)
    assert not await _contactor(stack)
    await _clean(stack)


# ---------------------------------------------------------------- EnergyTransfer
async def test_tc_e_02_cs_the_first_energy_starts_the_transaction(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp={"TxCtrlr.TxStartPoint": "EnergyTransfer"})
    tag = new_id_tag()
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    await stack.bench_request("pause", connector=1)  # the EV does not ask for energy yet
    await stack.bench_request("tap", uid=tag)
    await wait_for(stack, "Authorize", since=since)
    await expect_none(stack, "TransactionEvent", since, within=2.0)  # authorized, offered, no energy: none
    assert not await _contactor(stack)
    status = await stack.bench_request("status")
    assert status["connectors"][0]["offer_a"] > 0  # the EV is offered current all the same
    before_wh = status["connectors"][0]["energy_wh"]
    await stack.bench_request("resume", connector=1)  # it asks for energy
    started = await wait_event(stack, "Started", since)
    assert (started["triggerReason"], started["transactionInfo"]["chargingState"]) == ("ChargingStateChanged",
                                                                                      "Charging")
    assert started["idToken"]["idToken"] == tag
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=True, timeout=15)
    # Nothing flowed before the start: its register is where the EV's energy began.
    begin = [sv for mv in started["meterValue"] for sv in mv["sampledValue"]
             if sv.get("measurand", "Energy.Active.Import.Register") == "Energy.Active.Import.Register"]
    assert abs(float(begin[0]["value"]) - before_wh) <= 1.0
    await stack.bench_request("tap", uid=tag)
    ended = await wait_event(stack, "Ended", since)
    assert _tx(ended) == _tx(started)
    await _clean(stack)


# ---------------------------------------------------------------- stop points (E06)
async def test_tc_e_22_cs_energy_transfer_stopped_by_the_ev(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    assert await _set_variables(stack, ("TxCtrlr", "TxStopPoint", "EVConnected,Authorized,EnergyTransfer")) == [
        "Accepted"]
    started = await _charging(stack, new_id_tag())
    since = await last_seq(stack)
    await stack.bench_request("pause", connector=1)  # the EV stops drawing (C -> B)
    ended = await wait_event(stack, "Ended", since)
    assert _tx(ended) == _tx(started)
    assert ended["transactionInfo"]["stoppedReason"] == "StoppedByEV"
    assert ended["transactionInfo"]["chargingState"] == "SuspendedEV"
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=False, timeout=15)
    await stack.bench_request("resume", connector=1)  # asking again starts nothing without a token
    await expect_none(stack, "TransactionEvent", since=(await last_seq(stack)), within=1.5)
    assert not await _contactor(stack)
    await _clean(stack)


async def test_tc_e_08_cs_energy_transfer_stopped_by_the_driver(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp={"TxCtrlr.TxStopPoint": "PowerPathClosed,EnergyTransfer"})
    tag = new_id_tag()
    started = await _charging(stack, tag)
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)
    ended = await wait_event(stack, "Ended", since)
    assert _tx(ended) == _tx(started)
    assert (ended["triggerReason"], ended["transactionInfo"]["stoppedReason"]) == ("StopAuthorized", "Local")
    await _clean(stack)


async def test_tc_e_07_cs_power_path_closed_local_stop(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp={"TxCtrlr.TxStopPoint": "PowerPathClosed"})
    tag = new_id_tag()
    started = await _charging(stack, tag)
    since = await last_seq(stack)
    await stack.bench_request("pause", connector=1)  # without EnergyTransfer a pause only suspends
    await _wait_state(stack, _tx(started), "SuspendedEV", since)
    await stack.bench_request("tap", uid=tag)
    ended = await wait_event(stack, "Ended", since)
    assert (ended["triggerReason"], ended["transactionInfo"]["stoppedReason"]) == ("StopAuthorized", "Local")
    assert ended["idToken"]["idToken"] == tag
    await _clean(stack)


async def test_tc_e_35_cs_and_e_37_cs_power_path_closed_remote_stop_and_ev_side_disconnect(
        charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp={"TxCtrlr.TxStopPoint": "PowerPathClosed"})
    first = await _charging(stack, new_id_tag())
    since = await last_seq(stack)
    assert (await call(stack, "RequestStopTransaction", {"transactionId": _tx(first)}))["status"] == "Accepted"
    ended = await wait_event(stack, "Ended", since)
    assert (ended["triggerReason"], ended["transactionInfo"]["stoppedReason"]) == ("RemoteStop", "Remote")
    await stack.bench_request("unplug", connector=1)
    await wait_connector(stack, 1, "Available", since)

    second = await _charging(stack, new_id_tag())
    since = await last_seq(stack)
    await stack.bench_request("unplug", connector=1)  # the cable pulled at the EV
    ended = await wait_event(stack, "Ended", since)
    assert _tx(ended) == _tx(second)
    assert (ended["triggerReason"], ended["transactionInfo"]["stoppedReason"]) == ("EVCommunicationLost",
                                                                                  "EVDisconnected")
    await _clean(stack)
