"""Core module 01 (cold boot): TC_001, TC_002, and the rules before a boot is Accepted.

What a test tells the shared CSMS (boot status, intervals) is undone by the ``csms``
fixture after the test.
"""

from __future__ import annotations

import asyncio

from .helpers import actions, messages, parse_time, wait_for


async def pending_charger(csms, charger, status: str = "Pending", interval: int = 1):
    """A charger whose first BootNotification the backend answered with ``status``."""
    await csms.request("set_boot", status=status, interval=interval)
    stack = await charger(boot=False)
    await wait_for(stack, "BootNotification", timeout=15)
    return stack


async def test_tc_001_cold_boot_charge_point(csms, charger):
    await csms.request("set_heartbeat_interval", interval=2)
    stack = await charger(connectors=2)
    boot = (await wait_for(stack, "BootNotification"))[0]
    assert boot["chargePointVendor"] == "Ladda"
    assert boot["chargePointSerialNumber"] == boot["chargeBoxSerialNumber"] == "SIM-0001"  # both, for old backends
    assert boot["firmwareVersion"].startswith("ladda ")
    # After Accepted: the status of connector 0 and of every connector, then heartbeats at
    # the interval the backend gave.
    assert (await actions(stack))[:4] == [
        "BootNotification",
        "StatusNotification:0:Available",
        "StatusNotification:1:Available",
        "StatusNotification:2:Available",
    ]
    await wait_for(stack, "Heartbeat", count=3, timeout=15)
    stamps = [parse_time(m["time"]) for m in await messages(stack, "Heartbeat")]
    gaps = [(b - a).total_seconds() for a, b in zip(stamps, stamps[1:])]
    assert all(1.0 <= gap <= 4.0 for gap in gaps), f"heartbeats {gaps} s apart with interval 2 s"


async def test_tc_002_cold_boot_charge_point_pending(csms, charger):
    stack = await pending_charger(csms, charger)
    await wait_for(stack, "BootNotification", count=2, timeout=15)  # retried after the interval
    # While Pending, nothing but BootNotification is sent.
    assert set(await actions(stack)) == {"BootNotification"}
    # The backend can still configure the charger while it is Pending.
    reply = await csms.request("call", cp=stack.cp_id, action="GetConfiguration", payload={"key": ["HeartbeatInterval"]})
    assert reply["result"]["configurationKey"][0]["key"] == "HeartbeatInterval"
    await csms.request("set_boot", status="Accepted", interval=300)
    await wait_for(stack, "StatusNotification", count=2, timeout=15)
    seen = await actions(stack)
    first_status = seen.index("StatusNotification:0:Available")
    assert set(seen[:first_status]) == {"BootNotification"}


async def test_boot_rejected_sends_nothing_else_until_accepted(csms, charger):
    stack = await pending_charger(csms, charger, status="Rejected")
    await wait_for(stack, "BootNotification", count=2, timeout=15)
    await stack.bench_request("plug", connector=1, max_current=16)
    await asyncio.sleep(1.5)
    assert set(await actions(stack)) == {"BootNotification"}
    await csms.request("set_boot", status="Accepted", interval=300)
    await wait_for(stack, "StatusNotification", count=2, timeout=15)
    assert "StatusNotification:1:Preparing" in await actions(stack)


async def test_while_pending_remote_start_is_rejected(csms, charger):
    stack = await pending_charger(csms, charger)
    await stack.bench_request("plug", connector=1, max_current=16)
    reply = await csms.request(
        "call", cp=stack.cp_id, action="RemoteStartTransaction", payload={"idTag": "04A1B2C3", "connectorId": 1}
    )
    assert reply["result"] == {"status": "Rejected"}
    await asyncio.sleep(1.0)
    assert (await stack.bench_request("status"))["connectors"][0]["contactor_closed"] is False
    assert set(await actions(stack)) == {"BootNotification"}


async def test_a_triggered_boot_notification_while_pending_is_sent_at_once(csms, charger):
    stack = await pending_charger(csms, charger, interval=60)
    await csms.request("set_boot", status="Accepted", interval=300)
    reply = await csms.request(
        "call", cp=stack.cp_id, action="TriggerMessage", payload={"requestedMessage": "BootNotification"}
    )
    assert reply["result"] == {"status": "Accepted"}
    await wait_for(stack, "BootNotification", count=2, timeout=5)  # not after the 60 s interval
    await wait_for(stack, "StatusNotification", count=2, timeout=10)
    await asyncio.sleep(0.5)
    assert (await actions(stack)).count("BootNotification") == 2  # no extra boot afterwards
