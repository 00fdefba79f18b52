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
