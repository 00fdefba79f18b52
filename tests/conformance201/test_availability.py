"""OCPP 2.0.1 G03/G04 ChangeAvailability of an EVSE and of the station (persistent,
Scheduled during a transaction) and F05 UnlockConnector."""

from __future__ import annotations

from tests.conformance.helpers import new_id_tag, restart_agent_and_wait
from tests.conformance201.helpers import V201, call, last_seq, messages, schema_violations, wait_connector, wait_event


async def test_tc_g_05_cs_and_g_06_cs_the_station_inoperative_and_back(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(connectors=2, backend=V201)
    since = await last_seq(stack)
    assert (await call(stack, "ChangeAvailability", {"operationalStatus": "Inoperative"}))["status"] == "Accepted"
    await wait_connector(stack, 1, "Unavailable", since)
    await wait_connector(stack, 2, "Unavailable", since)
    since = await last_seq(stack)
    assert (await call(stack, "ChangeAvailability", {"operationalStatus": "Operative"}))["status"] == "Accepted"
    await wait_connector(stack, 1, "Available", since)
    await wait_connector(stack, 2, "Available", since)
    assert await schema_violations(stack) == []


async def test_tc_g_11_cs_with_ongoing_transaction_is_scheduled(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    since = await last_seq(stack)
    tag = new_id_tag()
    await stack.bench_request("plug", connector=1, max_current=16)
    await stack.bench_request("tap", uid=tag)
    await wait_event(stack, "Started", since)
    answer = await call(stack, "ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 1}})
    assert answer["status"] == "Scheduled"
    await stack.bench_request("tap", uid=tag)
    await wait_event(stack, "Ended", since)
    await stack.bench_request("unplug", connector=1)
    await wait_connector(stack, 1, "Unavailable", since, timeout=15)
    assert await schema_violations(stack) == []


async def test_tc_g_18_cs_unavailable_persists_a_restart(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    since = await last_seq(stack)
    assert (await call(stack, "ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 1}})
            )["status"] == "Accepted"
    await wait_connector(stack, 1, "Unavailable", since)
    boot = await restart_agent_and_wait(stack)
    after = [m["payload"]["connectorStatus"] for m in await messages(stack, "StatusNotification", boot)]
    assert after == ["Unavailable"]
    state = await call(stack, "GetVariables", {"getVariableData": [
        {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "AvailabilityState"}}]})
    assert state["getVariableResult"][0]["attributeValue"] == "Unavailable"
    assert await schema_violations(stack) == []


async def test_tc_f_05_cs_unlock_connector_without_a_lock_and_with_a_transaction(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)  # a tethered cable: no lock to release
    assert (await call(stack, "UnlockConnector", {"evseId": 1, "connectorId": 1}))["status"] == "UnlockFailed"
    assert (await call(stack, "UnlockConnector", {"evseId": 4, "connectorId": 1}))["status"] == "UnknownConnector"
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    await stack.bench_request("tap", uid=new_id_tag())
    await wait_event(stack, "Started", since)
    answer = await call(stack, "UnlockConnector", {"evseId": 1, "connectorId": 1})
    assert answer["status"] == "OngoingAuthorizedTransaction"
    assert await schema_violations(stack) == []
