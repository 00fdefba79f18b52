"""OCPP 2.0.1 B11/B12 Reset of one EVSE: that EVSE alone is set up afresh (it reports
Unavailable, then what it is), while the station and the other EVSEs run on: no
BootNotification, the websocket stays up. Immediate ends the EVSE's transaction first
(ImmediateReset); OnIdle with a transaction is Scheduled and follows its end."""

from __future__ import annotations

from typing import Any

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
)

#: Long enough for anything a reset would send to have come.
QUIET_S = 2.0


async def _statuses(stack: Any, since: int) -> list[tuple[int, str]]:
    """(evseId, connectorStatus) of every StatusNotification after ``since``, in order."""
    return [(m["payload"]["evseId"], m["payload"]["connectorStatus"])
            for m in await messages(stack, "StatusNotification", since)]


async def _link_events(stack: Any, since: int) -> list[str]:
    """The connection events (connected, disconnected) the CSMS noted after ``since``."""
    reply = await stack.csms.request("messages", cp=stack.cp_id, since_seq=since, direction=["event"])
    return [m["type"] for m in reply["messages"]]


async def _station_ran_on(stack: Any, since: int) -> None:
    """No reboot and no reconnect since ``since``: only the EVSE was reset."""
    await expect_none(stack, "BootNotification", since, within=QUIET_S)
    assert await _link_events(stack, since) == []


async def _charging(stack: Any, evse: int, tag: str) -> str:
    """Plug in at ``evse``, present ``tag``, wait for the energy to flow; the transactionId."""
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=evse, max_current=16)
    await wait_connector(stack, evse, "Occupied", since)
    await stack.bench_request("tap", uid=tag)
    started = await wait_event(stack, "Started", since)
    assert started["evse"]["id"] == evse
    await stack.bench_request("wait_for", connector=evse, field="contactor_closed", value=True, timeout=15)
    await wait_event(stack, "Updated", since, trigger="ChargingStateChanged")
    return str(started["transactionInfo"]["transactionId"])


async def _reset(stack: Any, kind: str, evse: int | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"type": kind}
    if evse is not None:
        payload["evseId"] = evse
    answer = await call(stack, "Reset", payload)
    assert "error" not in answer, answer
    return answer


def _seq_of_ended(msgs: list[dict[str, Any]], tx: str) -> int:
    return next(int(m["seq"]) for m in msgs if m["payload"]["eventType"] == "Ended"
                and m["payload"]["transactionInfo"]["transactionId"] == tx)


async def test_tc_b_25_cs_reset_evse_without_ongoing_transaction(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(connectors=2, backend=V201)
    # B11.FR.10: the station says each EVSE may be reset on its own.
    allow = await call(stack, "GetVariables", {"getVariableData": [
        {"component": {"name": "EVSE", "evse": {"id": n}}, "variable": {"name": "AllowReset"}} for n in (1, 2)]})
    assert [r["attributeValue"] for r in allow["getVariableResult"]] == ["true", "true"]
    for kind in ("OnIdle", "Immediate"):
        since = await last_seq(stack)
        answer = await _reset(stack, kind, 1)
        assert answer["status"] == "Accepted", answer
        back = await wait_connector(stack, 1, "Available", since)
        assert await _statuses(stack, since) == [(1, "Unavailable"), (1, "Available")], kind
        assert back > await wait_connector(stack, 1, "Unavailable", since)
        await _station_ran_on(stack, since)
    # An authorization waiting for an EV at the EVSE is dropped by its reset: the EV
    # plugged in afterwards starts nothing.
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=new_id_tag())
    await wait_connector(stack, 1, "Occupied", since)
    since = await last_seq(stack)
    assert (await _reset(stack, "OnIdle", 1))["status"] == "Accepted"
    await wait_connector(stack, 1, "Available", since)
    assert await _statuses(stack, since) == [(1, "Unavailable"), (1, "Available")]
    await stack.bench_request("plug", connector=1, max_current=16)
    await wait_connector(stack, 1, "Occupied", since)
    await expect_none(stack, "TransactionEvent", since, within=QUIET_S)
    # It serves again: a card now starts a transaction there.
    await stack.bench_request("tap", uid=new_id_tag())
    assert (await wait_event(stack, "Started", since))["evse"]["id"] == 1
    assert await schema_violations(stack) == []


async def test_tc_b_26_cs_reset_evse_with_ongoing_transaction_on_idle(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    tag = new_id_tag()
    tx = await _charging(stack, 1, tag)
    since = await last_seq(stack)
    assert (await _reset(stack, "OnIdle", 1))["status"] == "Scheduled"
    # Asked again while scheduled: still scheduled. Nothing happens to the transaction
    # meanwhile, and the EVSE takes no other session (B12.FR.01, B12.FR.07).
    assert (await _reset(stack, "OnIdle", 1))["status"] == "Scheduled"
    start = await call(stack, "RequestStartTransaction", {
        "idToken": {"idToken": new_id_tag(), "type": "ISO14443"}, "remoteStartId": 7, "evseId": 1})
    assert start["status"] == "Rejected"
    await expect_none(stack, "StatusNotification", since, within=QUIET_S)
    assert "Ended" not in [e["eventType"] for e in await events(stack, since)]
    assert (await stack.bench_request("status"))["connectors"][0]["contactor_closed"] is True
    # The driver stops (StopAuthorized): the transaction ends with its own reason, then
    # the EVSE is reset, with the EV still plugged in.
    await stack.bench_request("tap", uid=tag)
    ended = await wait_event(stack, "Ended", since)
    assert ended["transactionInfo"]["transactionId"] == tx
    assert (ended["triggerReason"], ended["transactionInfo"]["stoppedReason"]) == ("StopAuthorized", "Local")
    await wait_connector(stack, 1, "Occupied", await wait_connector(stack, 1, "Unavailable", since))
    assert await _statuses(stack, since) == [(1, "Unavailable"), (1, "Occupied")]
    ended_seq = _seq_of_ended(await messages(stack, "TransactionEvent", since), tx)
    assert ended_seq < await wait_connector(stack, 1, "Unavailable", since), "the reset follows the end"
    # Done once: unplugging and a new session go as ever, with no second reset.
    after = await last_seq(stack)
    await stack.bench_request("unplug", connector=1)
    await wait_connector(stack, 1, "Available", after)
    await _charging(stack, 1, new_id_tag())
    assert "Unavailable" not in [s for _, s in await _statuses(stack, after)]
    await _station_ran_on(stack, since)
    assert await schema_violations(stack) == []


async def test_tc_b_27_cs_reset_evse_with_ongoing_transaction_immediate(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    tx = await _charging(stack, 1, new_id_tag())
    since = await last_seq(stack)
    assert (await _reset(stack, "Immediate", 1))["status"] == "Accepted"
    ended = await wait_event(stack, "Ended", since)
    assert ended["transactionInfo"]["transactionId"] == tx
    assert (ended["triggerReason"], ended["transactionInfo"]["stoppedReason"],
            ended["transactionInfo"]["chargingState"]) == ("ResetCommand", "ImmediateReset", "EVConnected")
    unavailable = await wait_connector(stack, 1, "Unavailable", since)
    await wait_connector(stack, 1, "Occupied", unavailable)
    assert _seq_of_ended(await messages(stack, "TransactionEvent", since), tx) < unavailable
    assert await _statuses(stack, since) == [(1, "Unavailable"), (1, "Occupied")]
    bench = (await stack.bench_request("status"))["connectors"][0]
    assert (bench["contactor_closed"], bench["offer_a"]) == (False, 0)
    await _station_ran_on(stack, since)
    assert await schema_violations(stack) == []


async def test_reset_of_an_evse_the_station_does_not_have_is_rejected(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(connectors=2, backend=V201)
    since = await last_seq(stack)
    for kind, evse in (("OnIdle", 3), ("Immediate", 3), ("Immediate", 0)):
        answer = await _reset(stack, kind, evse)
        assert answer["status"] == "Rejected", answer
        assert answer["statusInfo"]["reasonCode"] == "UnknownEvse"
    await expect_none(stack, "StatusNotification", since, within=QUIET_S)
    await _station_ran_on(stack, since)
    assert await schema_violations(stack) == []


async def test_reset_of_one_evse_leaves_the_other_evses_transaction_running(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(connectors=2, backend=V201)
    first = await _charging(stack, 1, new_id_tag())
    other_tag = new_id_tag()
    other = await _charging(stack, 2, other_tag)
    since = await last_seq(stack)
    assert (await _reset(stack, "Immediate", 1))["status"] == "Accepted"
    ended = await wait_event(stack, "Ended", since)
    assert ended["transactionInfo"]["transactionId"] == first
    await wait_connector(stack, 1, "Occupied", await wait_connector(stack, 1, "Unavailable", since))
    await _station_ran_on(stack, since)
    # EVSE 2 heard nothing of it: no status, its transaction runs and still charges.
    assert [evse for evse, _ in await _statuses(stack, since)] == [1, 1]
    assert [e["transactionInfo"]["transactionId"] for e in await events(stack, since)
            if e["eventType"] == "Ended"] == [first]
    bench = (await stack.bench_request("status"))["connectors"]
    assert (bench[0]["contactor_closed"], bench[1]["contactor_closed"]) == (False, True)
    assert bench[1]["offer_a"] > 0
    # ... until its driver stops it, with its own reason.
    stop = await last_seq(stack)
    await stack.bench_request("tap", uid=other_tag)
    ended = await wait_event(stack, "Ended", stop)
    assert ended["transactionInfo"]["transactionId"] == other
    assert ended["transactionInfo"]["stoppedReason"] == "Local"
    assert await schema_violations(stack) == []


async def test_an_immediate_reset_of_an_evse_whose_reset_is_scheduled_goes_ahead(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    tx = await _charging(stack, 1, new_id_tag())
    since = await last_seq(stack)
    assert (await _reset(stack, "OnIdle", 1))["status"] == "Scheduled"
    assert (await _reset(stack, "Immediate", 1))["status"] == "Accepted"
    ended = await wait_event(stack, "Ended", since)
    assert ended["transactionInfo"]["transactionId"] == tx
    assert (ended["triggerReason"], ended["transactionInfo"]["stoppedReason"]) == ("ResetCommand", "ImmediateReset")
    await wait_connector(stack, 1, "Occupied", await wait_connector(stack, 1, "Unavailable", since))
    assert await _statuses(stack, since) == [(1, "Unavailable"), (1, "Occupied")]  # reset once
    await _station_ran_on(stack, since)
    assert await schema_violations(stack) == []


async def test_a_station_reset_takes_over_a_scheduled_evse_reset(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(connectors=2, backend=V201)
    tag = new_id_tag()
    tx = await _charging(stack, 1, tag)
    since = await last_seq(stack)
    assert (await _reset(stack, "OnIdle", 1))["status"] == "Scheduled"
    # The station's own OnIdle reset is Scheduled too (B12.FR.01): the idle EVSE 2 is
    # held Unavailable meanwhile, and the station restarts once the transaction ended.
    assert (await _reset(stack, "OnIdle"))["status"] == "Scheduled"
    await wait_connector(stack, 2, "Unavailable", since)
    await expect_none(stack, "BootNotification", since, within=QUIET_S)
    await stack.bench_request("tap", uid=tag)
    ended = await wait_event(stack, "Ended", since)
    assert ended["transactionInfo"]["transactionId"] == tx
    assert ended["transactionInfo"]["stoppedReason"] == "Local"
    boot = await wait_rebooted(stack, since)
    assert (await messages(stack, "BootNotification", since))[0]["payload"]["reason"] == "RemoteReset"
    assert _seq_of_ended(await messages(stack, "TransactionEvent", since), tx) < boot
    assert await schema_violations(stack) == []


async def test_reset_of_an_evse_gives_a_failed_cable_lock_a_fresh_try(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, lock=True)  # a socket outlet with a cable lock
    await stack.bench_request("lock_jam", connector=1, jammed=True)  # jammed open: it cannot lock
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    await stack.bench_request("tap", uid=new_id_tag())
    tx = str((await wait_event(stack, "Started", since))["transactionInfo"]["transactionId"])
    await wait_connector(stack, 1, "Faulted", since)
    assert (await stack.bench_request("status"))["connectors"][0]["contactor_closed"] is False
    # The lock is mended; the EV stays plugged in, so nothing else would clear the fault.
    await stack.bench_request("lock_jam", connector=1, jammed=False)
    reset_at = await last_seq(stack)
    assert (await _reset(stack, "Immediate", 1))["status"] == "Accepted"
    ended = await wait_event(stack, "Ended", reset_at)
    assert (ended["transactionInfo"]["transactionId"], ended["transactionInfo"]["stoppedReason"]) == (
        tx, "ImmediateReset")
    await wait_connector(stack, 1, "Occupied", await wait_connector(stack, 1, "Unavailable", reset_at))
    assert await _statuses(stack, reset_at) == [(1, "Unavailable"), (1, "Occupied")]
    # A new session locks the cable and charges.
    await stack.bench_request("tap", uid=new_id_tag())
    await wait_event(stack, "Started", reset_at)
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=True, timeout=15)
    assert (await stack.bench_request("status"))["connectors"][0]["locked"] is True
    await _station_ran_on(stack, since)
    assert await schema_violations(stack) == []
