"""OCPP 2.0.1 rules of the link itself: what a Pending charger may send (B02.FR.09), a
triggered boot (F06.FR.17), a TransactionEvent the CSMS leaves unanswered (E13), report
pages across a dropped link, and the boot reason across restarts."""

from __future__ import annotations

import asyncio

from tests.conformance201.helpers import V201, call, messages, schema_violations, wait_for


async def test_tc_f_26_cs_trigger_boot_notification_rejected_once_accepted(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    answer = await call(stack, "TriggerMessage", {"requestedMessage": "BootNotification"})
    assert answer["status"] == "Rejected"  # F06.FR.17
    await asyncio.sleep(1.5)
    assert [b["payload"]["reason"] for b in await messages(stack, "BootNotification")] == ["PowerUp"]
    assert await schema_violations(stack) == []


async def test_a_triggered_boot_while_pending_comes_at_once_with_reason_triggered(charger, csms) -> None:  # type: ignore[no-untyped-def]
    await csms.request("set_boot", status="Pending", interval=60)
    stack = await charger(backend=V201, boot=False)
    await wait_for(stack, "BootNotification", count=1, timeout=20)
    answer = await call(stack, "TriggerMessage", {"requestedMessage": "BootNotification"})
    assert answer["status"] == "Accepted"
    await csms.request("set_boot", status="Accepted", interval=300)
    await wait_for(stack, "BootNotification", count=2, timeout=5)  # not after the 60 s interval
    reasons = [b["payload"]["reason"] for b in await messages(stack, "BootNotification")]
    assert reasons == ["PowerUp", "Triggered"]
    assert await schema_violations(stack) == []


async def test_tc_b_02_cs_pending_sends_what_the_csms_asked_for(charger, csms) -> None:  # type: ignore[no-untyped-def]
    """B02.FR.09: a Pending station sends what GetBaseReport, GetReport and TriggerMessage
    asked for (a CSMS may provision it before accepting it); its statuses and the journal
    wait for the Accepted."""
    await csms.request("set_boot", status="Pending", interval=60)
    stack = await charger(backend=V201, boot=False)
    await wait_for(stack, "BootNotification", count=1, timeout=20)
    answer = await call(stack, "GetBaseReport", {"requestId": 9, "reportBase": "ConfigurationInventory"})
    assert answer["status"] == "Accepted"
    answer = await call(stack, "GetReport", {"requestId": 10, "componentVariable": [
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "OfflineThreshold"}}]})
    assert answer["status"] == "Accepted"
    assert (await call(stack, "TriggerMessage", {"requestedMessage": "Heartbeat"}))["status"] == "Accepted"
    assert (await call(stack, "TriggerMessage", {"requestedMessage": "StatusNotification",
                                                 "evse": {"id": 1, "connectorId": 1}}))["status"] == "Accepted"
    for _ in range(100):  # both reports, to their last page (tbc false)
        reports = [m["payload"] for m in await messages(stack, "NotifyReport")]
        if {r["requestId"] for r in reports if not r.get("tbc", False)} == {9, 10}:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError(f"reports not complete while Pending: {[(r['requestId'], r.get('tbc')) for r in reports]}")
    await wait_for(stack, "Heartbeat", count=1, timeout=10)
    triggered = await wait_for(stack, "StatusNotification", count=1, timeout=10)
    assert (triggered[0]["evseId"], triggered[0]["connectorStatus"]) == (1, "Available")
    await asyncio.sleep(1)
    assert [m["payload"]["reason"] for m in await messages(stack, "BootNotification")] == ["PowerUp"]
    assert len(await messages(stack, "StatusNotification")) == 1  # no status of its own while Pending
    assert await messages(stack, "TransactionEvent") == []
    await csms.request("set_boot", status="Accepted", interval=300)
    assert (await call(stack, "TriggerMessage", {"requestedMessage": "BootNotification"}))["status"] == "Accepted"
    await wait_for(stack, "BootNotification", count=2, timeout=10)
    await wait_for(stack, "StatusNotification", count=2, timeout=10)  # now the station's own
    assert await schema_violations(stack) == []
