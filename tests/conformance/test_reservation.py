"""Reservation profile: TC_046 to TC_053, and reservations across a restart.

The backend sends ReserveNow / CancelReservation through the test CSMS; each test
asserts the charge point's answer (checked against the OCPP 1.6 schema), the statuses
it reports and who it lets charge, as OCPP 1.6 sections 3.11 and 5.13 describe.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import datetime, timedelta, timezone
from typing import Any

from agent.store import iso
from simulators.harness import Stack

from .helpers import (
    call_checked,
    expect_none,
    last_seq,
    messages,
    new_id_tag,
    payload_of,
    plug_and_charge,
    statuses,
    wait_for,
    wait_rebooted,
    wait_status,
)


def _in(seconds: float) -> str:
    return iso(datetime.now(timezone.utc) + timedelta(seconds=seconds))


async def reserve(
    stack: Stack,
    connector: int,
    id_tag: str,
    reservation_id: int,
    *,
    expires_in: float = 600.0,
    parent: str | None = None,
) -> str:
    payload: dict[str, Any] = {
        "connectorId": connector,
        "expiryDate": _in(expires_in),
        "idTag": id_tag,
        "reservationId": reservation_id,
    }
    if parent is not None:
        payload["parentIdTag"] = parent
    result = await call_checked(stack, "ReserveNow", payload)
    assert "error" not in result, f"ReserveNow answered {result}"
    return str(result["status"])


async def cancel(stack: Stack, reservation_id: int) -> str:
    result = await call_checked(stack, "CancelReservation", {"reservationId": reservation_id})
    assert "error" not in result, f"CancelReservation answered {result}"
    return str(result["status"])


async def set_inoperative(stack: Stack, connector: int) -> None:
    result = await call_checked(stack, "ChangeAvailability", {"connectorId": connector, "type": "Inoperative"})
    assert result == {"status": "Accepted"}, result


async def refused_without_asking(stack: Stack, connector: int, tag: str) -> None:
    """A card tapped where reservations keep it out: no Authorize, no session, no status change."""
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)
    await expect_none(stack, "Authorize", since, within=2.0)
    assert await messages(stack, "StartTransaction", since) == []
    assert await statuses(stack, connector, since) == []


# ---------------------------------------------------------------- TC_046, TC_047: reserve a connector


async def test_tc_046_1_reservation_of_a_connector_local_start_transaction(charger):
    stack = await charger()
    holder, stranger = new_id_tag(), new_id_tag()
    since = await last_seq(stack)
    assert await reserve(stack, 1, holder, 4601) == "Accepted"
    await wait_status(stack, 1, "Reserved", since)

    await refused_without_asking(stack, 1, stranger)

    since = await last_seq(stack)
    await stack.bench_request("tap", uid=holder)
    await wait_status(stack, 1, "Preparing", since)
    await stack.bench_request("plug", connector=1, max_current=32)
    await wait_status(stack, 1, "Charging", since)
    start = await payload_of(stack, "StartTransaction", since)
    assert start["idTag"] == holder and start["connectorId"] == 1 and start["reservationId"] == 4601
    # The transaction used the reservation up.
    assert await cancel(stack, 4601) == "Rejected"


async def test_tc_046_2_reservation_of_a_connector_remote_start_transaction(charger):
    stack = await charger()
    holder = new_id_tag()
    since = await last_seq(stack)
    assert await reserve(stack, 1, holder, 4602) == "Accepted"
    await wait_status(stack, 1, "Reserved", since)

    other = {"idTag": new_id_tag(), "connectorId": 1}
    assert await call_checked(stack, "RemoteStartTransaction", other) == {"status": "Rejected"}
    mine = {"idTag": holder, "connectorId": 1}
    assert await call_checked(stack, "RemoteStartTransaction", mine) == {"status": "Accepted"}
    await wait_status(stack, 1, "Preparing", since)
    await stack.bench_request("plug", connector=1, max_current=32)
    await wait_status(stack, 1, "Charging", since)
    start = await payload_of(stack, "StartTransaction", since)
    assert start["idTag"] == holder and start["reservationId"] == 4602


async def test_a_cable_plugged_into_a_reserved_connector_keeps_it_reserved_until_its_card(charger):
    stack = await charger()
    holder = new_id_tag()
    since = await last_seq(stack)
    assert await reserve(stack, 1, holder, 4603) == "Accepted"
    await wait_status(stack, 1, "Reserved", since)

    plugged = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=32)
    await refused_without_asking(stack, 1, new_id_tag())
    assert await statuses(stack, 1, plugged) == []  # still Reserved: the EV alone changes nothing

    await stack.bench_request("tap", uid=holder)
    await wait_status(stack, 1, "Charging", plugged)
    assert await statuses(stack, 1, plugged) == ["Preparing", "Charging"]
    assert (await payload_of(stack, "StartTransaction", plugged))["reservationId"] == 4603


async def test_tc_047_reservation_of_a_connector_expire(charger):
    stack = await charger()
    since = await last_seq(stack)
    assert await reserve(stack, 1, new_id_tag(), 4701, expires_in=3.0) == "Accepted"
    reserved = await wait_status(stack, 1, "Reserved", since)
    await wait_status(stack, 1, "Available", reserved, timeout=8.0)
    assert await cancel(stack, 4701) == "Rejected"

    # Anyone may charge there again, and the start names no reservation.
    charging = await last_seq(stack)
    await plug_and_charge(stack, id_tag=new_id_tag())
    assert "reservationId" not in await payload_of(stack, "StartTransaction", charging)


# ---------------------------------------------------------------- TC_048: a connector that cannot be reserved


async def test_tc_048_1_reservation_of_a_connector_faulted(charger):
    stack = await charger()
    await stack.bench_request("meter_silent", connector=1, silent=True)
    await wait_status(stack, 1, "Faulted", timeout=12)
    assert await reserve(stack, 1, new_id_tag(), 4811) == "Faulted"


async def test_a_fault_on_a_reserved_connector_ends_its_reservation(charger):
    """Section 5.13: a reservation ends when its connector becomes Faulted."""
    stack = await charger()
    since = await last_seq(stack)
    assert await reserve(stack, 1, new_id_tag(), 4812) == "Accepted"
    await wait_status(stack, 1, "Reserved", since)
    await stack.bench_request("meter_silent", connector=1, silent=True)
    faulted = await wait_status(stack, 1, "Faulted", since, timeout=12)
    await stack.bench_request("meter_silent", connector=1, silent=False)
    await wait_status(stack, 1, "Available", faulted, timeout=10)
    assert await cancel(stack, 4812) == "Rejected"


async def test_tc_048_2_reservation_of_a_connector_occupied(charger):
    stack = await charger(connectors=2)
    since = await last_seq(stack)
    # An EV plugged in (Preparing), and a session under way, occupy their connectors.
    await stack.bench_request("plug", connector=1, max_current=32)
    await wait_status(stack, 1, "Preparing", since)
    assert await reserve(stack, 1, new_id_tag(), 4821) == "Occupied"
    await stack.bench_request("tap", uid=new_id_tag())
    await wait_status(stack, 1, "Charging", since)
    assert await reserve(stack, 1, new_id_tag(), 4822) == "Occupied"

    # A connector reserved for someone is occupied for any other reservation...
    first, second = new_id_tag(), new_id_tag()
    assert await reserve(stack, 2, first, 4823) == "Accepted"
    await wait_status(stack, 2, "Reserved", since)
    assert await reserve(stack, 2, second, 4824) == "Occupied"
    # ... but ReserveNow with the same reservationId replaces the reservation.
    assert await reserve(stack, 2, second, 4823) == "Accepted"
    await refused_without_asking(stack, 2, first)
    replaced = await last_seq(stack)
    await stack.bench_request("plug", connector=2, max_current=32)
    await stack.bench_request("tap", uid=second)
    await wait_status(stack, 2, "Charging", replaced)
    start = await payload_of(stack, "StartTransaction", replaced)
    assert start["idTag"] == second and start["reservationId"] == 4823


async def test_tc_048_3_reservation_of_a_connector_unavailable(charger):
    stack = await charger()
    since = await last_seq(stack)
    await set_inoperative(stack, 1)
    await wait_status(stack, 1, "Unavailable", since)
    assert await reserve(stack, 1, new_id_tag(), 4831) == "Unavailable"


async def test_reserve_now_is_rejected_for_an_unknown_connector_or_an_expiry_already_past(charger):
    stack = await charger()
    since = await last_seq(stack)
    assert await reserve(stack, 2, new_id_tag(), 4841) == "Rejected"
    assert await reserve(stack, 1, new_id_tag(), 4842, expires_in=-60) == "Rejected"
    assert await statuses(stack, 1, since) == []


# ---------------------------------------------------------------- TC_049, TC_050: reserve connector 0


async def test_tc_049_reservation_of_a_charge_point_transaction(charger):
    stack = await charger(connectors=2)
    holder = new_id_tag()
    since = await last_seq(stack)
    await set_inoperative(stack, 2)
    await wait_status(stack, 2, "Unavailable", since)

    # The one connector left must stay free for the idTag: it is Reserved for it.
    assert await reserve(stack, 0, holder, 4901) == "Accepted"
    await wait_status(stack, 1, "Reserved", since)
    await refused_without_asking(stack, 1, new_id_tag())

    charging = await last_seq(stack)
    await stack.bench_request("tap", uid=holder)
    await wait_status(stack, 1, "Preparing", charging)
    await stack.bench_request("plug", connector=1, max_current=32)
    await wait_status(stack, 1, "Charging", charging)
    start = await payload_of(stack, "StartTransaction", charging)
    assert start["connectorId"] == 1 and start["idTag"] == holder and start["reservationId"] == 4901
    assert await cancel(stack, 4901) == "Rejected"


async def test_a_charge_point_reservation_keeps_one_connector_free_for_its_idtag(charger):
    stack = await charger(connectors=2)
    holder, first, second = new_id_tag(), new_id_tag(), new_id_tag()
    since = await last_seq(stack)
    assert await reserve(stack, 0, holder, 4902) == "Accepted"
    # Two connectors free for one reservation: no connector is kept yet, both stay Available.
    await expect_none(stack, "StatusNotification", since, within=1.5)

    charging = await last_seq(stack)
    await plug_and_charge(stack, connector=1, id_tag=first)
    assert "reservationId" not in await payload_of(stack, "StartTransaction", charging)
    # Now connector 2 is the last one free: it is kept for the reservation, an EV plugged
    # in there does not release it, and another card is refused.
    await wait_status(stack, 2, "Reserved", charging)
    await stack.bench_request("plug", connector=2, max_current=32)
    await refused_without_asking(stack, 2, second)

    used = await last_seq(stack)
    await stack.bench_request("tap", uid=holder)
    await wait_status(stack, 2, "Charging", used)
    start = await payload_of(stack, "StartTransaction", used)
    assert start["connectorId"] == 2 and start["idTag"] == holder and start["reservationId"] == 4902


async def test_tc_050_1_reservation_of_a_charge_point_faulted(charger):
    stack = await charger()
    await stack.bench_request("meter_silent", connector=1, silent=True)
    await wait_status(stack, 1, "Faulted", timeout=12)
    assert await reserve(stack, 0, new_id_tag(), 5011) == "Faulted"


async def test_tc_050_2_reservation_of_a_charge_point_occupied(charger):
    stack = await charger()
    await plug_and_charge(stack, id_tag=new_id_tag())
    assert await reserve(stack, 0, new_id_tag(), 5021) == "Occupied"


async def test_tc_050_3_reservation_of_a_charge_point_unavailable(charger):
    stack = await charger(connectors=2)
    since = await last_seq(stack)
    await set_inoperative(stack, 0)
    await wait_status(stack, 0, "Unavailable", since)
    assert await reserve(stack, 0, new_id_tag(), 5031) == "Unavailable"


# ---------------------------------------------------------------- TC_051, TC_052: cancel


async def test_tc_051_cancel_reservation(charger):
    stack = await charger()
    since = await last_seq(stack)
    assert await reserve(stack, 1, new_id_tag(), 5101) == "Accepted"
    reserved = await wait_status(stack, 1, "Reserved", since)
    assert await cancel(stack, 5101) == "Accepted"
    await wait_status(stack, 1, "Available", reserved)

    charging = await last_seq(stack)
    await plug_and_charge(stack, id_tag=new_id_tag())
    assert "reservationId" not in await payload_of(stack, "StartTransaction", charging)


async def test_tc_052_cancel_reservation_rejected(charger):
    stack = await charger()
    holder = new_id_tag()
    since = await last_seq(stack)
    assert await reserve(stack, 1, holder, 5201) == "Accepted"
    reserved = await wait_status(stack, 1, "Reserved", since)
    assert await cancel(stack, 5299) == "Rejected"
    # Nothing was cancelled: the connector is still kept for the holder.
    await refused_without_asking(stack, 1, new_id_tag())
    assert await statuses(stack, 1, reserved) == []
    assert await cancel(stack, 5201) == "Accepted"


# ---------------------------------------------------------------- TC_053: parentIdTag


async def test_tc_053_use_a_reserved_connector_with_parentidtag(charger, csms):
    stack = await charger()
    reserved_tag, member, outsider = new_id_tag(), new_id_tag(), new_id_tag()
    group, other_group = f"G{new_id_tag()}", f"G{new_id_tag()}"
    await csms.request("set_id_tag", id_tag=member, status="Accepted", parent_id_tag=group)
    await csms.request("set_id_tag", id_tag=outsider, status="Accepted", parent_id_tag=other_group)
    since = await last_seq(stack)
    assert await reserve(stack, 1, reserved_tag, 5301, parent=group) == "Accepted"
    await wait_status(stack, 1, "Reserved", since)

    # Only the backend knows a card's group: the charge point asks, then refuses an outsider.
    asked = await last_seq(stack)
    await stack.bench_request("tap", uid=outsider)
    assert (await wait_for(stack, "Authorize", since=asked))[0]["idTag"] == outsider
    await expect_none(stack, "StartTransaction", asked, within=1.5)
    assert await statuses(stack, 1, asked) == []

    used = await last_seq(stack)
    await stack.bench_request("tap", uid=member)
    await wait_status(stack, 1, "Preparing", used)
    await stack.bench_request("plug", connector=1, max_current=32)
    await wait_status(stack, 1, "Charging", used)
    start = await payload_of(stack, "StartTransaction", used)
    assert start["idTag"] == member and start["reservationId"] == 5301


# ---------------------------------------------------------------- restart


async def test_reservations_survive_a_restart_and_one_that_expired_meanwhile_is_gone(charger):
    stack = await charger(connectors=2)
    since = await last_seq(stack)
    assert await reserve(stack, 1, new_id_tag(), 9001) == "Accepted"
    assert await reserve(stack, 2, new_id_tag(), 9002, expires_in=4.0) == "Accepted"
    await wait_status(stack, 2, "Reserved", since)

    down = await last_seq(stack)
    await stack.stop_agent(signal.SIGKILL)  # a power cut: nothing is tidied up on the way down
    await asyncio.sleep(5.0)  # reservation 9002 expires while the charger is off
    await stack.start_agent()
    booted = await wait_rebooted(stack, down)
    assert await statuses(stack, 1, booted) == ["Reserved"]
    assert await statuses(stack, 2, booted) == ["Available"]
    assert await cancel(stack, 9002) == "Rejected"
    assert await cancel(stack, 9001) == "Accepted"
    await wait_status(stack, 1, "Available", booted)
