"""OCPP 2.0.1 block G (Availability) as the OCA test tool runs it against a charging station:
G01/G02 connector status notifications on plug-in and unplug, G03 ChangeAvailability of
an EVSE and of one connector, G04 of the whole station, each in the official cases'
variants (to the same state, during a transaction, kept across a restart).

Written from the case list (`shared/OCPP201-TESTCASES.md`), OCPP 2.0.1 Part 2 (G01-G04)
and the OCTT steps; the cases named G_03-G_06, G_11 and G_18 are in `test_sessions.py`
and `test_availability.py`. Each test asserts what the backend sees and ends with no
schema violation in anything the charger sent."""

from __future__ import annotations

from typing import Any

from tests.conformance.helpers import expect_none, new_id_tag, restart_agent_and_wait
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


async def _statuses(stack: Any, since: int) -> list[tuple[int, int, str]]:
    """(evseId, connectorId, connectorStatus) of each StatusNotification after ``since``."""
    return [(m["payload"]["evseId"], m["payload"]["connectorId"], m["payload"]["connectorStatus"])
            for m in await messages(stack, "StatusNotification", since)]


async def _change(stack: Any, status: str, evse: int | None = None, connector: int | None = None) -> str:
    payload: dict[str, Any] = {"operationalStatus": status}
    if evse is not None:
        payload["evse"] = {"id": evse} if connector is None else {"id": evse, "connectorId": connector}
    answer = await call(stack, "ChangeAvailability", payload)
    assert "error" not in answer, answer
    return str(answer["status"])


async def _availability(stack: Any, component: dict[str, Any]) -> str:
    """The AvailabilityState the device model reports for ``component``."""
    answer = await call(stack, "GetVariables", {"getVariableData": [
        {"component": component, "variable": {"name": "AvailabilityState"}}]})
    result = answer["getVariableResult"][0]
    assert result["attributeStatus"] == "Accepted", result
    return str(result["attributeValue"])


async def _start(stack: Any, connector: int) -> tuple[str, str]:
    """Plug in and present a new card on ``connector``; return (card, transactionId)."""
    since = await last_seq(stack)
    tag = new_id_tag()
    await stack.bench_request("plug", connector=connector, max_current=16)
    await wait_connector(stack, connector, "Occupied", since)
    await stack.bench_request("tap", uid=tag)
    started = await wait_event(stack, "Started", since)
    assert started["evse"]["id"] == connector
    return tag, str(started["transactionInfo"]["transactionId"])


async def test_tc_g_01_cs_and_g_02_cs_available_to_occupied_and_back(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(connectors=2, backend=V201)
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    occupied = await wait_connector(stack, 1, "Occupied", since)
    sent = (await messages(stack, "StatusNotification", since))[0]["payload"]
    # TC_G_01_CS: the plug-in is told at once, for that EVSE and connector only, with its time.
    assert (sent["evseId"], sent["connectorId"], sent["connectorStatus"]) == (1, 1, "Occupied")
    assert sent["timestamp"]
    assert await _statuses(stack, since) == [(1, 1, "Occupied")]
    assert await events(stack, since) == []  # no transaction without an authorization (TxStartPoint)
    await stack.bench_request("unplug", connector=1)
    # TC_G_02_CS: unplugged with no session: Available again.
    await wait_connector(stack, 1, "Available", occupied)
    assert await _statuses(stack, occupied) == [(1, 1, "Available")]
    assert await _availability(stack, {"name": "Connector", "evse": {"id": 1, "connectorId": 1}}) == "Available"
    assert await schema_violations(stack) == []


async def test_tc_g_07_cs_and_g_08_cs_connector_inoperative_and_back(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(connectors=2, backend=V201)
    since = await last_seq(stack)
    # TC_G_07_CS: one connector Operative -> Inoperative: Accepted, that connector Unavailable.
    assert await _change(stack, "Inoperative", evse=1, connector=1) == "Accepted"
    unavailable = await wait_connector(stack, 1, "Unavailable", since)
    assert await _statuses(stack, since) == [(1, 1, "Unavailable")]  # EVSE 2 untouched
    assert await _availability(stack, {"name": "Connector", "evse": {"id": 1, "connectorId": 1}}) == "Unavailable"
    # TC_G_08_CS: Inoperative -> Operative: Accepted, Available again.
    assert await _change(stack, "Operative", evse=1, connector=1) == "Accepted"
    await wait_connector(stack, 1, "Available", unavailable)
    assert await _statuses(stack, unavailable) == [(1, 1, "Available")]
    assert await schema_violations(stack) == []


async def test_tc_g_09_cs_evse_operative_to_operative(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    since = await last_seq(stack)
    assert await _change(stack, "Operative", evse=1) == "Accepted"  # G03: already in that state
    assert all(status == "Available" for _, _, status in await _statuses(stack, since))
    assert await _availability(stack, {"name": "EVSE", "evse": {"id": 1}}) == "Available"
    assert await schema_violations(stack) == []


async def test_tc_g_10_cs_evse_inoperative_to_inoperative(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    since = await last_seq(stack)
    assert await _change(stack, "Inoperative", evse=1) == "Accepted"
    unavailable = await wait_connector(stack, 1, "Unavailable", since)
    assert await _change(stack, "Inoperative", evse=1) == "Accepted"  # the same again: Accepted
    assert all(status == "Unavailable" for _, _, status in await _statuses(stack, unavailable))
    assert await _availability(stack, {"name": "EVSE", "evse": {"id": 1}}) == "Unavailable"
    assert await schema_violations(stack) == []


async def test_tc_g_12_cs_station_operative_to_operative(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(connectors=2, backend=V201)
    since = await last_seq(stack)
    assert await _change(stack, "Operative") == "Accepted"
    assert all(status == "Available" for _, _, status in await _statuses(stack, since))
    # Post-scenario: a status has been received for every connector (at boot).
    assert {(e, c) for e, c, _ in await _statuses(stack, 0)} == {(1, 1), (2, 1)}
    assert await _availability(stack, {"name": "ChargingStation"}) == "Available"
    assert await schema_violations(stack) == []


async def test_tc_g_13_cs_station_inoperative_to_inoperative(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(connectors=2, backend=V201)
    since = await last_seq(stack)
    assert await _change(stack, "Inoperative") == "Accepted"
    await wait_connector(stack, 1, "Unavailable", since)
    unavailable = await wait_connector(stack, 2, "Unavailable", since)
    assert await _change(stack, "Inoperative") == "Accepted"  # the same again: Accepted
    assert all(status == "Unavailable" for _, _, status in await _statuses(stack, unavailable))
    assert await _availability(stack, {"name": "ChargingStation"}) == "Unavailable"
    for evse in (1, 2):
        assert await _availability(stack, {"name": "EVSE", "evse": {"id": evse}}) == "Unavailable"
    assert await schema_violations(stack) == []


async def test_tc_g_14_cs_station_inoperative_with_ongoing_transaction(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(connectors=2, backend=V201)
    tag, tx = await _start(stack, 1)
    since = await last_seq(stack)
    assert await _change(stack, "Inoperative") == "Scheduled"
    # The EVSE without a transaction goes Unavailable now; the one charging keeps charging.
    await wait_connector(stack, 2, "Unavailable", since)
    assert (1, 1, "Unavailable") not in await _statuses(stack, since)
    assert not [e for e in await events(stack, since) if e["eventType"] == "Ended"]
    await stack.bench_request("tap", uid=tag)  # StopAuthorized
    ended = await wait_event(stack, "Ended", since)
    assert ended["transactionInfo"]["transactionId"] == tx
    await stack.bench_request("unplug", connector=1)  # EVDisconnected
    await wait_connector(stack, 1, "Unavailable", since)
    ended_seq = next(m["seq"] for m in await messages(stack, "TransactionEvent", since)
                     if m["payload"]["eventType"] == "Ended")
    unavailable_seq = next(m["seq"] for m in await messages(stack, "StatusNotification", since)
                           if m["payload"]["evseId"] == 1 and m["payload"]["connectorStatus"] == "Unavailable")
    assert unavailable_seq > ended_seq  # the change waited for the transaction's end
    assert await _availability(stack, {"name": "ChargingStation"}) == "Unavailable"
    assert await schema_violations(stack) == []


async def test_tc_g_15_cs_connector_operative_to_operative(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    since = await last_seq(stack)
    assert await _change(stack, "Operative", evse=1, connector=1) == "Accepted"
    assert all(status == "Available" for _, _, status in await _statuses(stack, since))
    assert await _availability(stack, {"name": "Connector", "evse": {"id": 1, "connectorId": 1}}) == "Available"
    assert await schema_violations(stack) == []


async def test_tc_g_16_cs_connector_inoperative_to_inoperative(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    since = await last_seq(stack)
    assert await _change(stack, "Inoperative", evse=1, connector=1) == "Accepted"
    unavailable = await wait_connector(stack, 1, "Unavailable", since)
    assert await _change(stack, "Inoperative", evse=1, connector=1) == "Accepted"
    assert all(status == "Unavailable" for _, _, status in await _statuses(stack, unavailable))
    assert await _availability(stack, {"name": "Connector", "evse": {"id": 1, "connectorId": 1}}) == "Unavailable"
    assert await schema_violations(stack) == []


async def test_tc_g_17_cs_connector_inoperative_with_ongoing_transaction(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    tag, tx = await _start(stack, 1)
    since = await last_seq(stack)
    assert await _change(stack, "Inoperative", evse=1, connector=1) == "Scheduled"
    await expect_none(stack, "StatusNotification", since, within=1.0)  # nothing changes while it charges
    await stack.bench_request("tap", uid=tag)  # StopAuthorized
    ended = await wait_event(stack, "Ended", since)
    assert ended["transactionInfo"]["transactionId"] == tx
    await stack.bench_request("unplug", connector=1)  # EVDisconnected
    await wait_connector(stack, 1, "Unavailable", since)
    assert (await _statuses(stack, since))[-1] == (1, 1, "Unavailable")
    assert await _availability(stack, {"name": "Connector", "evse": {"id": 1, "connectorId": 1}}) == "Unavailable"
    assert await schema_violations(stack) == []


async def test_tc_g_19_cs_connector_unavailable_persists_a_restart(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(connectors=2, backend=V201)
    since = await last_seq(stack)
    assert await _change(stack, "Inoperative", evse=1, connector=1) == "Accepted"
    await wait_connector(stack, 1, "Unavailable", since)
    boot = await restart_agent_and_wait(stack)
    # After the boot every connector is told: the one made Inoperative Unavailable, the other Available.
    assert sorted(await _statuses(stack, boot)) == [(1, 1, "Unavailable"), (2, 1, "Available")]
    assert await schema_violations(stack) == []


async def test_tc_g_21_cs_station_unavailable_persists_a_restart(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(connectors=2, backend=V201)
    since = await last_seq(stack)
    assert await _change(stack, "Inoperative") == "Accepted"
    await wait_connector(stack, 1, "Unavailable", since)
    await wait_connector(stack, 2, "Unavailable", since)
    boot = await restart_agent_and_wait(stack)
    assert sorted(await _statuses(stack, boot)) == [(1, 1, "Unavailable"), (2, 1, "Unavailable")]
    assert await _availability(stack, {"name": "ChargingStation"}) == "Unavailable"
    assert await schema_violations(stack) == []
