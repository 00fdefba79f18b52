"""OCPP 2.0.1 Reservation (block H: H01 ReserveNow, H02 CancelReservation, H03 use of a
reserved EVSE, H04 ReservationStatusUpdate) over the real agent and the test CSMS.

Each test asserts the charger's answer, the connector statuses it reports, who it lets
start (the Started event names the reservation it used) and the ReservationStatusUpdates
it sends; and ends with no schema violation in what the charger sent.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from agent.store import iso
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


def _in(seconds: float) -> str:
    return iso(datetime.now(timezone.utc) + timedelta(seconds=seconds))


def _token(tag: str, kind: str = "ISO14443") -> dict[str, str]:
    return {"idToken": tag, "type": kind}


async def reserve(stack: Any, reservation_id: int, tag: str, evse: int | None = None, *, expires_in: float = 600.0,
                  group: str | None = None, connector_type: str | None = None) -> str:
    payload: dict[str, Any] = {"id": reservation_id, "expiryDateTime": _in(expires_in), "idToken": _token(tag)}
    if evse is not None:
        payload["evseId"] = evse
    if group is not None:
        payload["groupIdToken"] = _token(group, "Central")
    if connector_type is not None:
        payload["connectorType"] = connector_type
    answer = await call(stack, "ReserveNow", payload)
    assert "error" not in answer, answer
    return str(answer["status"])


async def cancel(stack: Any, reservation_id: int) -> str:
    answer = await call(stack, "CancelReservation", {"reservationId": reservation_id})
    assert "error" not in answer, answer
    return str(answer["status"])


async def inoperative(stack: Any, evse: int) -> None:
    answer = await call(stack, "ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": evse}})
    assert answer["status"] == "Accepted", answer


async def start_with(stack: Any, tag: str, evse: int = 1) -> dict[str, Any]:
    """Tap and plug on ``evse``; return the Started event."""
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)
    await stack.bench_request("plug", connector=evse, max_current=16)
    return await wait_event(stack, "Started", since)


async def status_updates(stack: Any, since: int = 0) -> list[dict[str, Any]]:
    return [m["payload"] for m in await messages(stack, "ReservationStatusUpdate", since)]


async def _clean(stack: Any) -> None:
    assert await schema_violations(stack) == []


# ---------------------------------------------------------------- H01: a specific EVSE
async def test_tc_h_01_cs_reserve_specific_evse_accepted_valid_idtoken(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    tag = new_id_tag()
    since = await last_seq(stack)
    assert await reserve(stack, 11, tag, evse=1) == "Accepted"
    await wait_connector(stack, 1, "Reserved", since)
    started = await start_with(stack, tag)
    assert started["reservationId"] == 11
    assert started["evse"]["id"] == 1
    assert await status_updates(stack) == []  # used: the Started event says so, no update
    await _clean(stack)


async def test_tc_h_02_cs_reserve_specific_evse_different_idtoken(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    owner, other = new_id_tag(), new_id_tag()
    assert await reserve(stack, 12, owner, evse=1) == "Accepted"
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=other)
    await stack.bench_request("plug", connector=1, max_current=16)
    await expect_none(stack, "TransactionEvent", since, within=2.0)
    await stack.bench_request("tap", uid=owner)
    started = await wait_event(stack, "Started", since)
    assert started["idToken"]["idToken"] == owner and started["reservationId"] == 12
    await _clean(stack)


async def test_tc_h_03_cs_reserve_specific_evse_occupied_evse_reserved(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    assert await reserve(stack, 13, new_id_tag(), evse=1) == "Accepted"
    assert await reserve(stack, 14, new_id_tag(), evse=1) == "Occupied"
    await _clean(stack)


async def test_tc_h_04_cs_reserve_specific_evse_occupied_evse_occupied(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    await wait_connector(stack, 1, "Occupied", since)
    assert await reserve(stack, 15, new_id_tag(), evse=1) == "Occupied"
    await _clean(stack)


async def test_tc_h_06_cs_reserve_specific_evse_unavailable(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    since = await last_seq(stack)
    await inoperative(stack, 1)
    await wait_connector(stack, 1, "Unavailable", since)
    assert await reserve(stack, 16, new_id_tag(), evse=1) == "Unavailable"
    await _clean(stack)


async def test_tc_h_07_cs_reservation_ended_not_used(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    since = await last_seq(stack)
    assert await reserve(stack, 17, new_id_tag(), evse=1, expires_in=2.0) == "Accepted"
    reserved = await wait_connector(stack, 1, "Reserved", since)
    found = await wait_for(stack, "ReservationStatusUpdate", since=since, timeout=10)
    assert found[0] == {"reservationId": 17, "reservationUpdateStatus": "Expired"}
    await wait_connector(stack, 1, "Available", reserved)
    await _clean(stack)


async def test_tc_h_19_cs_use_reserved_evse_with_group_id(charger, csms) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    owner, member, group = new_id_tag(), new_id_tag(), new_id_tag()
    await csms.request("set_id_tag", id_tag=member, status="Accepted", group_id_token=group)
    assert await reserve(stack, 19, owner, evse=1, group=group) == "Accepted"
    started = await start_with(stack, member)
    assert started["idToken"]["idToken"] == member and started["reservationId"] == 19
    await _clean(stack)


async def test_tc_h_22_cs_configured_to_reject(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    answer = await call(stack, "SetVariables", {"setVariableData": [{
        "component": {"name": "ReservationCtrlr"}, "variable": {"name": "Enabled"}, "attributeValue": "false"}]})
    assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted"
    since = await last_seq(stack)
    assert await reserve(stack, 22, new_id_tag(), evse=1) == "Rejected"
    assert await reserve(stack, 23, new_id_tag()) == "Rejected"
    await expect_none(stack, "StatusNotification", since, within=1.0)
    await _clean(stack)


async def test_tc_h_23_cs_replace_reservation(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, connectors=2)
    tag = new_id_tag()
    since = await last_seq(stack)
    assert await reserve(stack, 23, tag, evse=1) == "Accepted"
    first = await wait_connector(stack, 1, "Reserved", since)
    assert await reserve(stack, 23, tag, evse=2) == "Accepted"  # the same id: moved, not added
    await wait_connector(stack, 2, "Reserved", first)
    await wait_connector(stack, 1, "Available", first)
    assert await status_updates(stack) == []
    await _clean(stack)


# ---------------------------------------------------------------- H01: no EVSE named
async def test_tc_h_08_cs_reserve_unspecified_evse_accepted(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, connectors=2)
    owner, other = new_id_tag(), new_id_tag()
    assert await reserve(stack, 8, owner) == "Accepted"
    since = await last_seq(stack)
    # One EVSE is kept for the reservation; the other is anyone's, and then the last is Reserved.
    started = await start_with(stack, other, evse=1)
    assert "reservationId" not in started
    await wait_connector(stack, 2, "Reserved", since)
    mine = await start_with(stack, owner, evse=2)
    assert mine["reservationId"] == 8 and mine["evse"]["id"] == 2
    await _clean(stack)


async def test_tc_h_09_cs_reserve_unspecified_evse_occupied_evse_reserved(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    assert await reserve(stack, 9, new_id_tag(), evse=1) == "Accepted"
    assert await reserve(stack, 10, new_id_tag()) == "Occupied"
    await _clean(stack)


async def test_tc_h_10_cs_reserve_unspecified_evse_occupied_evse_occupied(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    await wait_connector(stack, 1, "Occupied", since)
    assert await reserve(stack, 10, new_id_tag()) == "Occupied"
    await _clean(stack)


async def test_tc_h_12_cs_reserve_unspecified_evse_unavailable(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    since = await last_seq(stack)
    await inoperative(stack, 1)
    await wait_connector(stack, 1, "Unavailable", since)
    assert await reserve(stack, 12, new_id_tag()) == "Unavailable"
    await _clean(stack)


async def test_tc_h_13_cs_reserve_unspecified_evse_rejected_station_without_it(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp={"ReserveConnectorZeroSupported": False})
    assert await reserve(stack, 13, new_id_tag()) == "Rejected"
    assert await reserve(stack, 14, new_id_tag(), evse=1) == "Accepted"  # by number it still can
    await _clean(stack)


async def test_tc_h_14_cs_reserve_unspecified_evse_as_many_reservations_as_evses(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, connectors=2)
    first, second = new_id_tag(), new_id_tag()
    since = await last_seq(stack)
    assert await reserve(stack, 141, first) == "Accepted"
    # One reservation on two EVSEs: one EVSE is kept, neither is shown Reserved yet.
    await expect_none(stack, "StatusNotification", since, within=1.5)
    assert await reserve(stack, 142, second) == "Accepted"
    # As many reservations as available EVSEs: every one of them is Reserved now.
    await wait_connector(stack, 1, "Reserved", since)
    await wait_connector(stack, 2, "Reserved", since)
    assert await reserve(stack, 143, new_id_tag()) == "Occupied"
    assert await reserve(stack, 144, new_id_tag(), evse=1) == "Occupied"
    used = await start_with(stack, second, evse=1)
    assert used["reservationId"] == 142
    mine = await start_with(stack, first, evse=2)
    assert mine["reservationId"] == 141
    await _clean(stack)


async def test_tc_h_16_cs_reserve_connector_type_as_many_reservations_as_connectors(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, connectors=2)
    got = await call(stack, "GetVariables", {"getVariableData": [{
        "component": {"name": "Connector", "evse": {"id": n, "connectorId": 1}}, "variable": {"name": "ConnectorType"}}
        for n in (1, 2)]})
    kinds = {r["attributeValue"] for r in got["getVariableResult"]}
    assert len(kinds) == 1, kinds  # the bench's EVSEs share one connector type
    kind = kinds.pop()
    since = await last_seq(stack)
    owners = [new_id_tag(), new_id_tag()]
    assert await reserve(stack, 161, owners[0], connector_type=kind) == "Accepted"
    assert await reserve(stack, 162, owners[1], connector_type=kind) == "Accepted"
    await wait_connector(stack, 1, "Reserved", since)
    await wait_connector(stack, 2, "Reserved", since)
    assert await reserve(stack, 163, new_id_tag(), connector_type=kind) == "Occupied"
    await stack.bench_request("tap", uid=new_id_tag())  # no EVSE is left for anyone else
    await stack.bench_request("plug", connector=1, max_current=16)
    await expect_none(stack, "TransactionEvent", since, within=2.0)
    started = await start_with(stack, owners[1], evse=2)
    assert started["reservationId"] == 162
    await _clean(stack)


async def test_tc_h_15_cs_reserve_connector_with_specific_type(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    got = await call(stack, "GetVariables", {"getVariableData": [{
        "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}}, "variable": {"name": "ConnectorType"}}]})
    kind = got["getVariableResult"][0]["attributeValue"]
    other = "cCCS1" if kind != "cCCS1" else "cType2"
    assert await reserve(stack, 15, new_id_tag(), connector_type=other) == "Rejected"
    assert await reserve(stack, 16, new_id_tag(), evse=1, connector_type=other) == "Rejected"
    tag = new_id_tag()
    assert await reserve(stack, 17, tag, connector_type=kind) == "Accepted"
    started = await start_with(stack, tag)
    assert started["reservationId"] == 17
    await _clean(stack)


async def test_tc_h_21_cs_station_cancels_reservation_when_unavailable(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    since = await last_seq(stack)
    assert await reserve(stack, 21, new_id_tag(), evse=1) == "Accepted"
    await wait_connector(stack, 1, "Reserved", since)
    await inoperative(stack, 1)
    found = await wait_for(stack, "ReservationStatusUpdate", since=since, timeout=10)
    assert found[0] == {"reservationId": 21, "reservationUpdateStatus": "Removed"}
    await wait_connector(stack, 1, "Unavailable", since)
    await _clean(stack)


# ---------------------------------------------------------------- H02: cancel
async def test_tc_h_17_cs_cancel_reservation_success(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    since = await last_seq(stack)
    assert await reserve(stack, 31, new_id_tag(), evse=1) == "Accepted"
    reserved = await wait_connector(stack, 1, "Reserved", since)
    assert await cancel(stack, 31) == "Accepted"
    await wait_connector(stack, 1, "Available", reserved)
    # Anyone may charge now, and the backend, which cancelled it, is sent no update.
    started = await start_with(stack, new_id_tag())
    assert "reservationId" not in started
    assert await status_updates(stack) == []
    await _clean(stack)


async def test_tc_h_18_cs_cancel_reservation_rejected(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    assert await cancel(stack, 4242) == "Rejected"
    assert await reserve(stack, 32, new_id_tag(), evse=1) == "Accepted"
    assert await cancel(stack, 33) == "Rejected"
    assert await cancel(stack, 32) == "Accepted"
    assert await cancel(stack, 32) == "Rejected"  # already gone
    assert [e for e in await events(stack)] == []
    await _clean(stack)


async def test_tc_h_24_cs_reserve_unspecified_evse_group_id_token(charger, csms) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    owner, member, group = new_id_tag(), new_id_tag(), new_id_tag()
    await csms.request("set_id_tag", id_tag=member, status="Accepted", group_id_token=group)
    assert await reserve(stack, 24, owner, group=group) == "Accepted"
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=new_id_tag())  # a stranger: the only EVSE is kept
    await stack.bench_request("plug", connector=1, max_current=16)
    await expect_none(stack, "TransactionEvent", since, within=2.0)
    await stack.bench_request("tap", uid=member)
    started = await wait_event(stack, "Started", since)
    assert started["idToken"]["idToken"] == member and started["reservationId"] == 24
    await _clean(stack)


async def test_tc_h_22_cs_a_charger_without_reservations_rejects(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp={"SupportedFeatureProfiles": "Core,RemoteTrigger"})
    got = await call(stack, "GetVariables", {"getVariableData": [{
        "component": {"name": "ReservationCtrlr"}, "variable": {"name": "Available"}}]})
    assert got["getVariableResult"][0]["attributeValue"] == "false"
    assert await reserve(stack, 25, new_id_tag(), evse=1) == "Rejected"
    await _clean(stack)
